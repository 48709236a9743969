//! The quarantine: events a follower of the log (a projection, a reactor, the warehouse feed,
//! the etl) could not decode or apply, set aside so that the follower goes on with the next
//! event instead of stopping.
//!
//! It works as a sequenced dead-letter queue. Once an event of a stream is quarantined, the
//! stream is blocked for that follower: its later events queue behind it (error kind
//! [`BEHIND`]) instead of being applied out of order, while other streams go on. A retry (after
//! a fix) applies a blocked stream's events again in log order and stops that stream at the
//! first one that still fails.
//!
//! The follower's batch and a retry hold the same transaction-scoped advisory lock while they
//! read or change the follower's rows, so a stream never stays blocked behind an event a
//! retry has just released. Rows hold the position, stream, type and an error *kind*; never
//! data or an error's text, which may echo personal details.
//!
//! Each database has its own table: [`READ_MODELS`] beside the checkpoints (projections,
//! reactors, the feed) and [`WAREHOUSE`] in the warehouse (the etl). Both are created by the
//! migrations of the crates that own those databases.

use crate::checkpoint::{to_i64, to_u64};
use crate::{EventStore, Position, RecordedEvent, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use uuid::Uuid;

/// The quarantine of the read-model database.
pub const READ_MODELS: &str = "projections.quarantine";
/// The quarantine of the warehouse database.
pub const WAREHOUSE: &str = "warehouse.quarantine";

/// The kind of an event held only because an earlier event of its stream is quarantined.
pub const BEHIND: &str = "behind";

/// A quarantined event, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub runner: String,
    pub position: Position,
    pub stream: String,
    pub revision: Option<u64>,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub error_kind: String,
    pub quarantined_at: DateTime<Utc>,
    /// How many times it was tried and failed.
    pub attempts: i32,
}

/// The identity of an event a follower sets aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub position: Position,
    pub stream: String,
    pub revision: Option<u64>,
    pub event_id: Option<Uuid>,
    pub event_type: String,
}

impl From<&RecordedEvent> for Held {
    fn from(event: &RecordedEvent) -> Self {
        Self {
            position: event.position,
            stream: event.stream.clone(),
            revision: Some(event.revision),
            event_id: Some(event.id),
            event_type: event.event_type.clone(),
        }
    }
}

/// Whether a database error is the event's fault (it will fail the same way every time), as
/// opposed to the database's (a lost connection, a timeout), and which: its SQLSTATE, never
/// its message, which may quote the offending value. Data exceptions (class 22) and integrity
/// violations (class 23) are the event's fault.
pub fn poison_kind(error: &sqlx::Error) -> Option<String> {
    let code = error.as_database_error()?.code()?;
    (code.starts_with("22") || code.starts_with("23")).then(|| format!("sqlstate_{code}"))
}

/// Opens a savepoint before one event's writes, so that [`settle`] can undo them alone.
pub async fn savepoint(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SAVEPOINT one_event").execute(&mut *tx).await?;
    Ok(())
}

/// Ends the savepoint [`savepoint`] opened, given how the event's writes went: kept when they
/// went through (`None`); rolled back when they failed because of the event, whose poison
/// kind it returns; any other failure is the caller's to handle.
pub async fn settle(
    tx: &mut PgConnection,
    outcome: Result<(), sqlx::Error>,
) -> Result<Option<String>, sqlx::Error> {
    match outcome {
        Ok(()) => {
            end_savepoint(tx, true).await?;
            Ok(None)
        }
        Err(e) => {
            let Some(kind) = poison_kind(&e) else {
                return Err(e);
            };
            end_savepoint(tx, false).await?;
            Ok(Some(kind))
        }
    }
}

/// Keeps or undoes what was written since [`savepoint`].
async fn end_savepoint(tx: &mut PgConnection, keep: bool) -> Result<(), sqlx::Error> {
    let end = if keep {
        "RELEASE SAVEPOINT one_event"
    } else {
        "ROLLBACK TO SAVEPOINT one_event"
    };
    sqlx::query(end).execute(&mut *tx).await?;
    Ok(())
}

/// One follower's quarantine.
#[derive(Debug, Clone)]
pub struct Quarantine {
    table: &'static str,
    runner: String,
}

/// What one batch of a follower set aside, and which streams are blocked.
#[derive(Debug, Default, Clone)]
pub struct Sorting {
    blocked: HashSet<String>,
    held: Vec<(Held, String)>,
}

impl Sorting {
    /// Whether events of `stream` must queue behind a quarantined one.
    pub fn is_blocked(&self, stream: &str) -> bool {
        self.blocked.contains(stream)
    }

    /// Sets `event` aside for `kind` and blocks its stream.
    pub fn hold(&mut self, event: impl Into<Held>, kind: impl Into<String>) {
        let event = event.into();
        self.blocked.insert(event.stream.clone());
        self.held.push((event, kind.into()));
    }

    /// If `event`'s stream is blocked, queues it behind and returns `true`.
    pub fn queue_if_blocked(&mut self, event: impl Into<Held>) -> bool {
        let event = event.into();
        if !self.is_blocked(&event.stream) {
            return false;
        }
        self.held.push((event, BEHIND.to_owned()));
        true
    }

    /// How many events this batch set aside.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Why a retried event did not go through.
#[derive(Debug)]
pub enum Failure {
    /// It fails for the same kind of reason: it stays quarantined.
    Poison(String),
    /// Something else is down: the retry stops and changes nothing.
    Transient(Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        match poison_kind(&error) {
            Some(kind) => Self::Poison(kind),
            None => Self::Transient(Box::new(error)),
        }
    }
}

/// How a follower applies one of its quarantined events again, inside the retry's
/// transaction.
pub trait Reapply {
    fn reapply<'c>(
        &'c self,
        tx: &'c mut PgConnection,
        event: RecordedEvent,
    ) -> impl Future<Output = Result<(), Failure>> + Send + 'c;
}

/// What a retry did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    /// Events applied and released.
    pub released: usize,
    /// Events still quarantined: they failed again, or wait behind one that did.
    pub remaining: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("quarantine database")]
    Database(#[from] sqlx::Error),
    #[error("event store")]
    Store(#[from] StoreError),
    #[error("applying an event failed for a reason other than the event")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Quarantine {
    /// The quarantine of follower `runner` in `table` ([`READ_MODELS`] or [`WAREHOUSE`]).
    pub fn new(table: &'static str, runner: impl Into<String>) -> Self {
        Self {
            table,
            runner: runner.into(),
        }
    }

    pub fn runner(&self) -> &str {
        &self.runner
    }

    /// Starts a batch inside `tx`: takes the follower's quarantine lock until the
    /// transaction ends and reads which streams are blocked.
    pub async fn sort(&self, tx: &mut PgConnection) -> Result<Sorting, sqlx::Error> {
        // One round trip on every batch: the lock, then the blocked streams (none, usually).
        let blocked: Vec<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT q.stream FROM (SELECT pg_advisory_xact_lock(hashtext($2))) AS locked
             LEFT JOIN LATERAL (SELECT DISTINCT stream FROM {} WHERE runner = $1) AS q ON true",
            self.table
        ))
        .bind(&self.runner)
        .bind(self.lock_key())
        .fetch_all(&mut *tx)
        .await?;
        Ok(Sorting {
            blocked: blocked.into_iter().flatten().collect(),
            held: Vec::new(),
        })
    }

    /// Records what the batch set aside, in `tx` (the one [`sort`](Self::sort) locked). Each
    /// event is counted in `events_quarantined_total` and logged at error level, by kind.
    pub async fn record(&self, tx: &mut PgConnection, sorting: Sorting) -> Result<(), sqlx::Error> {
        if sorting.held.is_empty() {
            return Ok(());
        }
        let mut columns = Columns::default();
        for (event, kind) in &sorting.held {
            tracing::error!(
                runner = %self.runner,
                position = %event.position,
                stream = %event.stream,
                event_type = %event.event_type,
                error_kind = %kind,
                "event quarantined; going on with the next one"
            );
            metrics::counter!("events_quarantined_total", "runner" => self.runner.clone(), "kind" => metric_kind(kind))
                .increment(1);
            columns.push(event, kind);
        }
        sqlx::query(&format!(
            "INSERT INTO {} (runner, commit_position, prepare_position, stream, revision, event_id, event_type, error_kind)
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::uuid[], $7::text[], $8::text[])
             ON CONFLICT DO NOTHING",
            self.table
        ))
        .bind(&self.runner)
        .bind(&columns.commits)
        .bind(&columns.prepares)
        .bind(&columns.streams)
        .bind(&columns.revisions)
        .bind(&columns.ids)
        .bind(&columns.types)
        .bind(&columns.kinds)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Applies the follower's quarantined events again, stream by stream in log order, each
    /// read back from `store`. `apply` runs inside the retry's transaction (which holds the
    /// follower's lock); an event that goes through is released, one that fails as poison
    /// stays with its new kind and stops its stream, and anything else aborts the retry.
    pub async fn retry<S: EventStore>(
        &self,
        pool: &PgPool,
        store: &S,
        apply: &impl Reapply,
    ) -> Result<Retried, RetryError> {
        let mut tx = pool.begin().await?;
        self.lock(&mut tx).await?;
        let entries = self.entries(&mut tx).await?;
        let mut by_stream: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for entry in &entries {
            by_stream.entry(&entry.stream).or_default().push(entry);
        }
        let mut retried = Retried::default();
        for (stream, entries) in by_stream {
            let recorded = store.read_stream(stream).await?;
            let mut stuck = false;
            for entry in entries {
                if stuck {
                    retried.remaining += 1;
                    continue;
                }
                let Some(event) = recorded.iter().find(|e| e.position == entry.position) else {
                    // Gone from its stream (deleted or truncated): nothing left to apply.
                    self.release(&mut tx, entry.position).await?;
                    retried.released += 1;
                    continue;
                };
                savepoint(&mut tx).await?;
                match apply.reapply(&mut tx, event.clone()).await {
                    Ok(()) => {
                        end_savepoint(&mut tx, true).await?;
                        self.release(&mut tx, entry.position).await?;
                        retried.released += 1;
                    }
                    Err(Failure::Poison(kind)) => {
                        end_savepoint(&mut tx, false).await?;
                        self.failed_again(&mut tx, entry.position, &kind).await?;
                        stuck = true;
                        retried.remaining += 1;
                    }
                    Err(Failure::Transient(e)) => return Err(RetryError::Transient(e)),
                }
            }
        }
        tx.commit().await?;
        Ok(retried)
    }

    /// Forgets every event of this follower: for a scratch copy being dropped.
    pub async fn clear(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("DELETE FROM {} WHERE runner = $1", self.table))
            .bind(&self.runner)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Replaces this follower's events with `copy`'s, in `tx`: a rebuilt copy swapped in
    /// brings what it set aside. Takes this follower's lock first, as its batches do.
    pub async fn take_over(
        &self,
        tx: &mut PgConnection,
        copy: &Quarantine,
    ) -> Result<(), sqlx::Error> {
        self.lock(tx).await?;
        sqlx::query(&format!("DELETE FROM {} WHERE runner = $1", self.table))
            .bind(&self.runner)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "UPDATE {} SET runner = $1 WHERE runner = $2",
            self.table
        ))
        .bind(&self.runner)
        .bind(&copy.runner)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Takes this follower's quarantine lock until `tx` ends.
    pub async fn lock(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(self.lock_key())
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    fn lock_key(&self) -> String {
        format!("quarantine:{}", self.runner)
    }

    async fn entries(&self, tx: &mut PgConnection) -> Result<Vec<Entry>, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} FROM {} WHERE runner = $1 ORDER BY commit_position, prepare_position",
            self.table
        ))
        .bind(&self.runner)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.into_iter().map(Row::entry).collect())
    }

    async fn release(&self, tx: &mut PgConnection, at: Position) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE runner = $1 AND commit_position = $2 AND prepare_position = $3",
            self.table
        ))
        .bind(&self.runner)
        .bind(to_i64(at.commit))
        .bind(to_i64(at.prepare))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn failed_again(
        &self,
        tx: &mut PgConnection,
        at: Position,
        kind: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE {} SET error_kind = $4, attempts = attempts + 1
             WHERE runner = $1 AND commit_position = $2 AND prepare_position = $3",
            self.table
        ))
        .bind(&self.runner)
        .bind(to_i64(at.commit))
        .bind(to_i64(at.prepare))
        .bind(kind)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// Every quarantined event in `table`, in log order per follower.
pub async fn list(conn: &mut PgConnection, table: &str) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} FROM {table} ORDER BY runner, commit_position, prepare_position"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Row::entry).collect())
}

/// How many events `runners` hold in `table`: what readiness reports.
pub async fn count(pool: &PgPool, table: &str, runners: &[String]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {table} WHERE runner = ANY($1)"
    ))
    .bind(runners)
    .fetch_one(pool)
    .await
}

/// Metric labels come from a short fixed list; a SQLSTATE is folded into its class.
fn metric_kind(kind: &str) -> &'static str {
    match kind {
        BEHIND => BEHIND,
        "unknown_type" => "unknown_type",
        "unsupported_version" => "unsupported_version",
        "type_mismatch" => "type_mismatch",
        "malformed" => "malformed",
        "target_unreadable" => "target_unreadable",
        kind if kind.starts_with("sqlstate_22") => "data_exception",
        kind if kind.starts_with("sqlstate_23") => "integrity_violation",
        _ => "other",
    }
}

const SELECT: &str = "SELECT runner, commit_position, prepare_position, stream, revision, event_id, event_type, error_kind, quarantined_at, attempts";

#[derive(sqlx::FromRow)]
struct Row {
    runner: String,
    commit_position: i64,
    prepare_position: i64,
    stream: String,
    revision: Option<i64>,
    event_id: Option<Uuid>,
    event_type: String,
    error_kind: String,
    quarantined_at: DateTime<Utc>,
    attempts: i32,
}

impl Row {
    fn entry(self) -> Entry {
        Entry {
            runner: self.runner,
            position: Position::new(to_u64(self.commit_position), to_u64(self.prepare_position)),
            stream: self.stream,
            revision: self.revision.map(to_u64),
            event_id: self.event_id,
            event_type: self.event_type,
            error_kind: self.error_kind,
            quarantined_at: self.quarantined_at,
            attempts: self.attempts,
        }
    }
}

#[derive(Default)]
struct Columns {
    commits: Vec<i64>,
    prepares: Vec<i64>,
    streams: Vec<String>,
    revisions: Vec<Option<i64>>,
    ids: Vec<Option<Uuid>>,
    types: Vec<String>,
    kinds: Vec<String>,
}

impl Columns {
    fn push(&mut self, event: &Held, kind: &str) {
        self.commits.push(to_i64(event.position.commit));
        self.prepares.push(to_i64(event.position.prepare));
        self.streams.push(event.stream.clone());
        self.revisions.push(event.revision.map(to_i64));
        self.ids.push(event.event_id);
        self.types.push(event.event_type.clone());
        self.kinds.push(kind.to_owned());
    }
}
