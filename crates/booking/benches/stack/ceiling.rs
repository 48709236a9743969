//! (a) The ceiling: what PostgreSQL itself does with an append transaction of the adapter's
//! shape, driven by `pgbench` over a sweep of client counts; and (b) the adapter's own rate
//! over the same sweep, in a throwaway database of their own (so the stack's log stays clean).
//!
//! "The same shape" is the same writes in one transaction and one round trip: bump the
//! stream's row and insert one event row, into tables copied from the event store's (`LIKE
//! ... INCLUDING ALL`: same columns, keys and unique indexes) with a real `SeatBooked` body
//! and a time-ordered id like the adapter's UUID v7. What the adapter adds on top is its
//! checks: the duplicate-id lookup, the per-stream lock, the expected revision.

use anyhow::{Context, bail};
use chrono::Utc;
use domain::{BookingId, DomainEvent, TrainEvent, TrainId};
use event_store::testing::TestDatabase;
use event_store::{NewEvent, PgEventStore};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Best rate of a sweep and the concurrency that reached it.
#[derive(Clone, Copy)]
pub struct Best {
    pub rate: f64,
    pub clients: usize,
}

impl Best {
    fn of(sweep: &[(usize, f64)]) -> Self {
        sweep.iter().copied().fold(
            Self {
                rate: 0.0,
                clients: 0,
            },
            |best, (clients, rate)| {
                if rate > best.rate {
                    Self { rate, clients }
                } else {
                    best
                }
            },
        )
    }
}

pub struct Appends {
    pub ceiling: Best,
    pub adapter: Best,
    /// The machine's CPU per raw append at the ceiling's level: the unit the stack's cost per
    /// booking is counted in.
    pub append_cpu: Duration,
    /// Every level of both sweeps: (clients, ceiling events/s, adapter events/s).
    pub sweep: Vec<(usize, f64, f64)>,
}

/// A booking event as the command API writes it.
pub fn seat_booked(n: usize) -> NewEvent {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    event_store::NewEvent::from(domain::encode(&DomainEvent::Train(
        TrainEvent::SeatBooked {
            order_id: None,
            train_id: TrainId(1 + n % 100),
            booking_id: BookingId(n + 1),
            user_credentials: format!("traveller-{n}").into(),
            seat_count: 1,
            seats_left: 4321,
            seat: None,
            class: None,
            price: None,
            booked_at: Utc::now(),
        },
    )))
}

pub async fn measure(
    levels: &[usize],
    window: Duration,
    scratch: &Path,
) -> anyhow::Result<Appends> {
    let database = TestDatabase::create().await;
    let max = levels.iter().copied().max().unwrap_or(1);
    let pool = database.pool(2).await;
    // Creates the event store's schema, which the ceiling's tables copy.
    PgEventStore::new(pool.clone()).await?;
    for statement in [
        "CREATE SCHEMA ceiling",
        "CREATE TABLE ceiling.streams (LIKE event_store.streams INCLUDING ALL)",
        "CREATE TABLE ceiling.events (LIKE event_store.events INCLUDING ALL)",
        "CREATE SEQUENCE ceiling.event_seq AS bigint",
        "CREATE TABLE ceiling.payload (event_type text, data jsonb, metadata jsonb)",
    ] {
        sqlx::query(statement).execute(&pool).await?;
    }
    // pgbench numbers its clients from 0; each has its own stream, as each adapter writer does.
    sqlx::query(
        "INSERT INTO ceiling.streams (stream_id, revision, last_xid)
         SELECT 'ceiling-' || c, -1, 0 FROM generate_series(0, $1 - 1) c",
    )
    .bind(i64::try_from(max)?)
    .execute(&pool)
    .await?;
    let event = seat_booked(0);
    sqlx::query("INSERT INTO ceiling.payload VALUES ($1, $2, $3)")
        .bind(&event.event_type)
        .bind(&event.data)
        .bind(&event.metadata)
        .execute(&pool)
        .await?;
    let script = scratch.join("ceiling.sql");
    std::fs::write(&script, CEILING_SCRIPT)?;

    let mut sweep = Vec::new();
    let mut append_cpu = Vec::new();
    for &clients in levels {
        let busy = crate::cpu::machine_busy()?;
        let ceiling = pgbench(&database.url, &script, clients, window)?;
        let appends = ceiling * window.as_secs().max(1) as f64;
        append_cpu.push((crate::cpu::machine_busy()? - busy).div_f64(appends.max(1.0)));
        // A pool per level, closed after it: PostgreSQL's connection limit is shared with
        // everything else on the server, and idle connections count.
        let writers = database.pool(u32::try_from(clients)?).await;
        let store = PgEventStore::new(writers.clone()).await?;
        let (adapter, _) =
            event_store::testing::append_rate(&store, clients, window, seat_booked).await;
        writers.close().await;
        eprintln!("  {clients:>3} clients: ceiling {ceiling:.0}/s, adapter {adapter:.0}/s");
        sweep.push((clients, ceiling, adapter));
    }
    let pick = |f: fn(&(usize, f64, f64)) -> f64| {
        Best::of(&sweep.iter().map(|s| (s.0, f(s))).collect::<Vec<_>>())
    };
    let ceiling = pick(|s| s.1);
    let at_ceiling = sweep.iter().position(|s| s.0 == ceiling.clients);
    Ok(Appends {
        ceiling,
        adapter: pick(|s| s.2),
        append_cpu: at_ceiling.map_or(Duration::ZERO, |i| append_cpu[i]),
        sweep,
    })
}

/// The pgbench transaction: one statement, so one round trip like the adapter's function
/// call. The event body comes from a one-row table, since pgbench would read the colons of a
/// JSON literal as its variables.
const CEILING_SCRIPT: &str = "WITH s AS (UPDATE ceiling.streams SET revision = revision + 1, \
    last_xid = pg_current_xact_id()::text::bigint \
    WHERE stream_id = 'ceiling-' || (:client_id)::text RETURNING stream_id, revision, last_xid) \
    INSERT INTO ceiling.events (xid, seq, event_id, stream_id, revision, event_type, data, metadata) \
    SELECT s.last_xid, nextval('ceiling.event_seq'), \
    (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') \
    || '7' || substr(md5(random()::text), 1, 19))::uuid, \
    s.stream_id, s.revision, p.event_type, p.data, p.metadata FROM s, ceiling.payload p;\n";

/// Transactions per second of `script` with `clients` connections, for `window`.
fn pgbench(url: &str, script: &Path, clients: usize, window: Duration) -> anyhow::Result<f64> {
    let output = Command::new("pgbench")
        .args(["--no-vacuum", "--protocol=prepared", "--file"])
        .arg(script)
        .args(["--client", &clients.to_string()])
        .args(["--jobs", &clients.min(2).to_string()])
        .args(["--time", &window.as_secs().max(1).to_string()])
        .arg(url)
        .output()
        .context("running pgbench (from postgresql-client)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}
