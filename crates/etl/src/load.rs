//! Loading a batch of feed messages into the star schema in one transaction.
//!
//! Two rules make loading safe to repeat and to reorder. Repeats: every event id is recorded
//! in `loaded_events`, and a batch skips ids already there (a redelivery after a crash before
//! the ack changes nothing). Reorders: every row that an event sets remembers the log position
//! that set it, and an upsert only overwrites a row whose position is older; a booking and its
//! cancellation (a hold and its end) fill separate columns, and a train version that arrives
//! late re-resolves the rows that should have seen it. The live etl and backfill both load
//! through here, so they build the same warehouse. Batches load one at a time (a
//! transaction-scoped advisory lock), so concurrent loaders never miss each other's
//! uncommitted rows.
//!
//! The writers, one per star-schema table, live in `load/`; `load/rows.rs` folds a batch's
//! events into the rows they write; this file decides which messages load.

mod bookings;
mod cancellations;
mod hold_ends;
mod holds;
mod loaded_events;
mod rejected_messages;
mod removals;
mod routes;
mod rows;
mod seats_daily;
mod trains;

pub use rejected_messages::Rejected;

use chrono::{DateTime, Datelike, Utc};
use domain::DomainEvent;
use event_store::quarantine::{
    self, Failure, Held, Quarantine, Reapply, Retried, RetryError, Sorting, poison_kind,
};
use event_store::{EventStore, RecordedEvent};
use projector::feed::FeedMessage;
use rows::Rows;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Events applied for the first time.
    pub fresh: usize,
    /// Events skipped because they were loaded before (or twice in this batch).
    pub repeated: usize,
    /// Events set aside in the quarantine: they cannot be decoded or loaded, or wait behind
    /// one of their stream that could not.
    pub quarantined: usize,
}

/// The etl's name in `warehouse.quarantine`.
pub const ETL_RUNNER: &str = "etl";

fn etl_quarantine() -> Quarantine {
    Quarantine::new(quarantine::WAREHOUSE, ETL_RUNNER)
}

/// Loads `messages` in one transaction.
pub async fn load(pool: &PgPool, messages: &[FeedMessage]) -> Result<Loaded, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let loaded = load_in(&mut tx, messages, &[]).await?;
    tx.commit().await?;
    Ok(loaded)
}

/// Loads `messages` (and records `rejected`) inside the caller's transaction. A message whose
/// event cannot be decoded or loaded goes to `warehouse.quarantine`, with the later ones of
/// its stream queued behind it, and the rest loads.
#[tracing::instrument(skip_all, fields(messages = messages.len()))]
pub async fn load_in(
    tx: &mut PgConnection,
    messages: &[FeedMessage],
    rejected: &[Rejected],
) -> Result<Loaded, sqlx::Error> {
    // The quarantine's lock first, then the warehouse's, in the order a retry takes them.
    let quarantine = etl_quarantine();
    let blocked = quarantine.sort(tx).await?;
    lock(tx).await?;
    let mut seen = HashSet::with_capacity(messages.len());
    let unique: Vec<&FeedMessage> = messages.iter().filter(|m| seen.insert(m.id)).collect();
    let ids: Vec<Uuid> = unique.iter().map(|m| m.id).collect();
    let known: HashSet<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM warehouse.loaded_events WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let fresh: Vec<&FeedMessage> = unique
        .into_iter()
        .filter(|m| !known.contains(&m.id))
        .collect();
    let decoded: Vec<(&FeedMessage, Decoded)> = fresh
        .iter()
        .map(|&message| {
            let event = DomainEvent::decode(
                &message.event_type,
                message.schema_version,
                message.data.clone(),
            )
            .map_err(|e| e.kind());
            (message, event)
        })
        .collect();

    // At once; only when an event fails because of its data, again one at a time behind
    // savepoints, to set that event aside.
    sqlx::query("SAVEPOINT whole_batch")
        .execute(&mut *tx)
        .await?;
    let mut sorting = blocked.clone();
    let (batch, applied) = sort(&decoded, &mut sorting);
    let applied = match write(tx, &batch, &applied).await {
        Ok(()) => applied.len(),
        Err(e) if poison_kind(&e).is_some() => {
            sqlx::query("ROLLBACK TO SAVEPOINT whole_batch")
                .execute(&mut *tx)
                .await?;
            sorting = blocked;
            load_each(tx, &decoded, &mut sorting).await?
        }
        Err(e) => return Err(e),
    };
    rejected_messages::write(tx, rejected).await?;
    let quarantined = sorting.held();
    quarantine.record(tx, sorting).await?;
    Ok(Loaded {
        fresh: applied,
        repeated: messages.len() - fresh.len(),
        quarantined,
    })
}

/// An event as the etl reads it: decoded, or the kind of why it cannot be.
type Decoded = Result<DomainEvent, &'static str>;

/// One loading transaction at a time per warehouse (several consumers, several etl processes,
/// a backfill beside the live etl, a quarantine retry). Under READ COMMITTED two concurrent
/// batches would not see each other's train versions: both could leave a version current, or
/// a seat row without its capacity. Loads are short; receiving and parsing still overlap.
async fn lock(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('warehouse-load'))")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn held(message: &FeedMessage) -> Held {
    Held {
        position: message.position,
        stream: message.stream.clone(),
        revision: Some(message.revision),
        event_id: Some(message.id),
        event_type: message.event_type.clone(),
    }
}

/// The rows of the messages that can load, and those messages; the others are set aside.
fn sort<'a>(
    decoded: &'a [(&'a FeedMessage, Decoded)],
    sorting: &mut Sorting,
) -> (Rows, Vec<&'a FeedMessage>) {
    let mut rows = Rows::default();
    let mut applied = Vec::with_capacity(decoded.len());
    for (message, event) in decoded {
        if sorting.queue_if_blocked(held(message)) {
            continue;
        }
        match event {
            Ok(event) => {
                rows.add(message, event);
                applied.push(*message);
            }
            Err(kind) => sorting.hold(held(message), *kind),
        }
    }
    (rows, applied)
}

/// Writes the rows, then records the messages they came from as loaded.
async fn write(
    tx: &mut PgConnection,
    rows: &Rows,
    messages: &[&FeedMessage],
) -> Result<(), sqlx::Error> {
    rows.write(tx).await?;
    loaded_events::record(tx, messages).await
}

/// Loads the messages one at a time, each behind a savepoint, in order: one that fails
/// because of its data is set aside, and the rest goes on. Returns how many loaded.
async fn load_each(
    tx: &mut PgConnection,
    decoded: &[(&FeedMessage, Decoded)],
    sorting: &mut Sorting,
) -> Result<usize, sqlx::Error> {
    let mut applied = 0;
    for one in decoded {
        let (rows, messages) = sort(std::slice::from_ref(one), sorting);
        if messages.is_empty() {
            continue;
        }
        quarantine::savepoint(tx).await?;
        let outcome = write(tx, &rows, &messages).await;
        match quarantine::settle(tx, outcome).await? {
            None => applied += 1,
            Some(kind) => sorting.hold(held(one.0), kind),
        }
    }
    Ok(applied)
}

/// Loads the etl's quarantined events again, in order per stream, each read back from the
/// log (`booking quarantine retry`). Takes the quarantine's lock, then the warehouse's.
pub async fn retry<S: EventStore>(store: &S, pool: &PgPool) -> Result<Retried, RetryError> {
    etl_quarantine().retry(pool, store, &Reload).await
}

struct Reload;

impl Reapply for Reload {
    async fn reapply(&self, tx: &mut PgConnection, event: RecordedEvent) -> Result<(), Failure> {
        let message = match FeedMessage::from_recorded(&event) {
            Ok(message) => message,
            Err(projector::ProjectorError::Decode { source, .. }) => {
                return Err(Failure::Poison(source.kind().to_owned()));
            }
            Err(e) => return Err(Failure::Transient(Box::new(e))),
        };
        lock(tx).await?;
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM warehouse.loaded_events WHERE event_id = $1)",
        )
        .bind(message.id)
        .fetch_one(&mut *tx)
        .await?;
        if known {
            return Ok(());
        }
        let decoded = DomainEvent::decode(
            &message.event_type,
            message.schema_version,
            message.data.clone(),
        )
        .map_err(|e| Failure::Poison(e.kind().to_owned()))?;
        let mut rows = Rows::default();
        rows.add(&message, &decoded);
        write(tx, &rows, &[&message]).await?;
        Ok(())
    }
}

/// A log position as the warehouse stores it: two bigints compared as a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At(i64, i64);

impl At {
    fn of(message: &FeedMessage) -> Self {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self(
            as_i64(message.position.commit),
            as_i64(message.position.prepare),
        )
    }
}

fn date_key(at: DateTime<Utc>) -> i32 {
    let day = at.date_naive();
    day.year() * 10_000 + i32::try_from(day.month() * 100 + day.day()).unwrap_or_default()
}

/// One column of `rows`, in key order: what an `unnest($n::type[])` parameter binds. A column
/// may borrow from the rows (text binds as `&str`, without a copy).
fn column<'a, K, V, T>(rows: &'a BTreeMap<K, V>, value: impl Fn(&'a K, &'a V) -> T) -> Vec<T> {
    rows.iter().map(|(key, row)| value(key, row)).collect()
}

/// The log positions of `rows`, in key order, as the commit and prepare columns.
fn positions<K, V>(rows: &BTreeMap<K, (V, At)>) -> (Vec<i64>, Vec<i64>) {
    rows.values().map(|(_, at)| (at.0, at.1)).unzip()
}
