//! Append throughput of the PostgreSQL adapter next to plain INSERTs into a table of the same
//! shape, measured in one run on one throwaway database:
//!
//!   cargo bench -p event-store --bench append            (BENCH_SECS=5 per figure by default)
//!
//! "plain INSERT loop" is one connection inserting one row per statement; "plain INSERT, N
//! connections" is the same with N concurrent loops (the ceiling with group commit). The
//! adapter figure is N writers each appending one event per append with an exact expected
//! revision, the shape of a real command.

use event_store::testing::TestDatabase;
use event_store::{NewEvent, PgEventStore};
use sqlx::PgPool;
use std::time::{Duration, Instant};

const WRITERS: usize = 8;

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let window = Duration::from_secs(secs);
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
    let adapter = event_store::testing::append_rate(&store, WRITERS, window, |n| {
        NewEvent::new("SeatBooked", body(n))
    })
    .await;

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

fn body(n: usize) -> serde_json::Value {
    serde_json::json!({ "type": "SeatBooked", "train_id": 1, "booking_id": n, "user_credentials": "Tom Ford", "seats_left": 99 })
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
    rate(tasks, started).await
}

async fn rate(tasks: Vec<tokio::task::JoinHandle<usize>>, started: Instant) -> f64 {
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("bench task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}
