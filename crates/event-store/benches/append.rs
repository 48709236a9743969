//! Append throughput of the PostgreSQL adapter next to plain INSERTs into a table of the same
//! shape, measured in one run on one throwaway database:
//!
//!   cargo bench -p event-store --bench append            (BENCH_SECS=5 per figure by default)
//!
//! "plain INSERT loop" is one connection inserting one row per statement; "plain INSERT, N
//! connections" is the same with N concurrent loops (the ceiling with group commit). The
//! adapter figure is N writers each appending one event per append with an exact expected
//! revision, the shape of a real command.

mod support;

use event_store::PgEventStore;
use event_store::testing::TestDatabase;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use support::{WRITERS, adapter_appends, body, window};

#[tokio::main]
async fn main() {
    let window = window();
    let database = TestDatabase::create().await;
    let pool = database.pool(WRITERS as u32 + 2).await;
    let store = PgEventStore::new(pool.clone()).await.expect("event store");
    sqlx::query(
        "CREATE TABLE plain_events (
            seq bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream_id text NOT NULL,
            revision bigint NOT NULL, event_type text NOT NULL, data jsonb NOT NULL,
            metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (stream_id, revision))",
    )
    .execute(&pool)
    .await
    .expect("plain table");

    let single = plain_inserts(&pool, 1, window).await;
    let concurrent = plain_inserts(&pool, WRITERS, window).await;
    let (adapter, _) = adapter_appends(&store, WRITERS, window).await;

    println!(
        "{:<44} {:>12} {:>16}",
        "figure", "events/s", "vs plain loop"
    );
    for (name, rate) in [
        ("plain INSERT loop (1 connection)".to_string(), single),
        (format!("plain INSERT ({WRITERS} connections)"), concurrent),
        (
            format!("adapter append ({WRITERS} writers, 1 event each)"),
            adapter,
        ),
    ] {
        println!("{name:<44} {rate:>12.0} {:>15.2}x", rate / single);
    }
    println!(
        "adapter / plain INSERT with {WRITERS} connections: {:.2}",
        adapter / concurrent
    );
}

async fn plain_inserts(pool: &PgPool, connections: usize, window: Duration) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while started.elapsed() < window {
                    sqlx::query(
                        "INSERT INTO plain_events (event_id, stream_id, revision, event_type, data, metadata)
                         VALUES ($1, $2, $3, 'SeatBooked', $4, '{}')",
                    )
                    .bind(uuid::Uuid::now_v7())
                    .bind(format!("plain-{connections}-{c}"))
                    .bind(n as i64)
                    .bind(body(n))
                    .execute(&pool)
                    .await
                    .expect("insert");
                    n += 1;
                }
                n
            })
        })
        .collect();
    rate_and_total(tasks, started).await.0
}

/// Events per second over every task's count since `started`, and that count.
pub async fn rate_and_total(
    tasks: Vec<tokio::task::JoinHandle<usize>>,
    started: Instant,
) -> (f64, usize) {
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("bench task");
    }
    (total as f64 / started.elapsed().as_secs_f64(), total)
}
