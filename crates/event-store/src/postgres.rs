//! The PostgreSQL adapter: what local runs, tests and CI use.
//!
//! Ordering technique (see the migration for the full argument): each event records its
//! transaction id, the global position is (transaction id, sequence), and readers only return
//! events below the oldest running transaction (`pg_snapshot_xmin`). Writers never wait for
//! each other except on the same stream; readers wait, briefly, for older transactions to end.
//!
//! Wake-ups: appends made through this process wake its subscribers directly. For other
//! processes an announcer sends `NOTIFY` after the commit, coalescing bursts into one. It is
//! deliberately outside the append transaction: a `NOTIFY` inside it would take PostgreSQL's
//! global notify lock through the commit and serialise every writer. Subscribers also poll
//! on a slow timer, so a lost notification only costs latency.
//!
//! One reader per process: a subscription reads the log itself only to catch up; once caught
//! up it takes the live log from the store's one tail reader, which reads every new event
//! once and hands each subscription the slices it has not seen (see `reader`). Ten
//! subscriptions in a process cost one read of each new event, not ten.

mod reader;

use crate::{
    AppendResult, EventStore, ExpectedRevision, Filter, NewEvent, Position, RecordedEvent,
    StoreError, Subscription,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// Channel on which appends are announced to other processes.
const CHANNEL: &str = "event_store_appended";

/// How often an append is re-run after losing a race that needs a fresh transaction.
const APPEND_ATTEMPTS: usize = 5;

/// This crate's migrations. Several crates migrate the same database with version numbers
/// that never collide, so each ignores the others' entries in the shared history.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or upgrades the store's schema (`event_store`), for `booking migrate` and every
/// connection that runs migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    migrator()
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(e.into()))
}

/// An event store in a PostgreSQL database (schema `event_store`).
#[derive(Clone)]
pub struct PgEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Bumped after every local commit; the announcer forwards it as a `NOTIFY`.
    appended: watch::Sender<u64>,
    /// Bumped by local commits and by notifications from other processes; readers wait on it.
    wake: watch::Sender<u64>,
    listener: tokio::sync::OnceCell<()>,
    /// The live log as the tail reader hands it out, started by the first subscription.
    tail: std::sync::OnceLock<broadcast::Sender<Arc<reader::Slice>>>,
}

impl PgEventStore {
    /// Connects, runs the store's migrations, and starts the announcer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(classify)?;
        Self::connect_with(options, max_connections).await
    }

    /// As [`connect`](Self::connect), with options every connection of the pool starts with
    /// (such as its `statement_timeout`).
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::new(Self::connect_pool(options, max_connections).await?).await
    }

    /// As [`connect_with`](Self::connect_with), without running the store's migrations: for a
    /// database role that may not run DDL, once the owner has run them (`booking migrate`).
    pub async fn connect_unmigrated(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Ok(Self::open(
            Self::connect_pool(options, max_connections).await?,
        ))
    }

    async fn connect_pool(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<PgPool, StoreError> {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(classify)
    }

    /// Uses an existing pool: runs the store's migrations, and starts the announcer.
    pub async fn new(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        Ok(Self::open(pool))
    }

    /// Uses an existing pool whose schema is up to date, and starts the announcer.
    fn open(pool: PgPool) -> Self {
        let (appended, announcements) = watch::channel(0);
        let (wake, _) = watch::channel(0);
        tokio::spawn(announce(pool.clone(), announcements));
        Self {
            inner: Arc::new(Inner {
                pool,
                appended,
                wake,
                listener: tokio::sync::OnceCell::new(),
                tail: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Starts, once, the task that turns other processes' announcements into wake-ups.
    async fn ensure_listener(&self) {
        let inner = &self.inner;
        inner
            .listener
            .get_or_init(|| async {
                tokio::spawn(listen(inner.pool.clone(), Arc::downgrade(&self.inner)));
            })
            .await;
    }

    /// A receiver of the live log's slices, from now on; starts the tail reader, once.
    fn tail(&self) -> broadcast::Receiver<Arc<reader::Slice>> {
        self.inner
            .tail
            .get_or_init(|| {
                let (slices, _) = broadcast::channel(reader::TAIL_SLICES);
                tokio::spawn(reader::tail(
                    self.inner.pool.clone(),
                    self.inner.wake.subscribe(),
                    slices.clone(),
                    Arc::downgrade(&self.inner),
                ));
                slices
            })
            .subscribe()
    }

    async fn try_append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[NewEvent],
    ) -> Result<(String, i64, i64, i64), sqlx::Error> {
        let expected = match expected {
            ExpectedRevision::Any => -1,
            ExpectedRevision::NoStream => -2,
            ExpectedRevision::StreamExists => -3,
            ExpectedRevision::Exact(revision) => i64::try_from(revision).unwrap_or(i64::MAX),
        };
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
        let metadata: Vec<&serde_json::Value> = events.iter().map(|e| &e.metadata).collect();
        sqlx::query_as("SELECT * FROM event_store.append($1, $2, $3, $4, $5, $6)")
            .bind(stream)
            .bind(expected)
            .bind(ids)
            .bind(types)
            .bind(data)
            .bind(metadata)
            .fetch_one(&self.inner.pool)
            .await
    }
}

impl EventStore for PgEventStore {
    #[tracing::instrument(skip_all, fields(stream = %stream, events = events.len()))]
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        StoreError::check_not_empty(&events)?;
        for _ in 0..APPEND_ATTEMPTS {
            let (status, revision, commit, prepare) =
                match self.try_append(stream, expected, &events).await {
                    Ok(row) => row,
                    // A concurrent append of the same event id won; run again to learn whether it
                    // was this very append (idempotent success) or a clash.
                    Err(e) if is_constraint(&e, "events_event_id") => continue,
                    Err(e) => return Err(classify(e)),
                };
            let at = || AppendResult {
                revision: u64::try_from(revision).unwrap_or_default(),
                position: Position::new(to_u64(commit), to_u64(prepare)),
            };
            match status.as_str() {
                "ok" => {
                    self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
                    self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
                    return Ok(at());
                }
                "duplicate" => return Ok(at()),
                "conflict" => {
                    return Err(StoreError::WrongExpectedRevision {
                        stream: stream.to_owned(),
                        expected,
                        actual: u64::try_from(revision).ok(),
                    });
                }
                "duplicate_elsewhere" => return Err(self.duplicate_error(&events).await),
                _ => continue,
            }
        }
        Err(StoreError::Backend(
            format!("append to {stream} kept losing races").into(),
        ))
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<reader::EventRow> = sqlx::query_as(
            "SELECT xid, seq, event_id, stream_id, revision, event_type, data, metadata, recorded_at
             FROM event_store.events WHERE stream_id = $1 ORDER BY revision",
        )
        .bind(stream)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn read_stream_after(
        &self,
        stream: &str,
        after: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Revisions are at most i64::MAX in the table; none is after that.
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let rows: Vec<reader::EventRow> = sqlx::query_as(
            "SELECT xid, seq, event_id, stream_id, revision, event_type, data, metadata, recorded_at
             FROM event_store.events WHERE stream_id = $1 AND revision > $2 ORDER BY revision",
        )
        .bind(stream)
        .bind(after)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn read_all(
        &self,
        after: Option<Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let xmin = reader::settled_horizon(&self.inner.pool).await?;
        let rows = reader::page(
            &self.inner.pool,
            after.unwrap_or_default(),
            xmin,
            filter,
            limit,
        )
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn count(&self, after: Option<Position>) -> Result<Option<u64>, StoreError> {
        let after = after.unwrap_or_default();
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM event_store.events WHERE (xid, seq) > ($1, $2)",
        )
        .bind(i64::try_from(after.commit).unwrap_or(i64::MAX))
        .bind(i64::try_from(after.prepare).unwrap_or(i64::MAX))
        .fetch_one(&self.inner.pool)
        .await
        .map_err(classify)?;
        Ok(u64::try_from(count).ok())
    }

    fn subscribe(&self, after: Option<Position>, filter: Filter) -> Subscription {
        let (tx, rx) = tokio::sync::mpsc::channel(Subscription::BUFFER);
        let stop = tokio_util::sync::CancellationToken::new();
        let store = self.clone();
        let task_stop = stop.clone();
        tokio::spawn(async move {
            store.ensure_listener().await;
            let wake = store.inner.wake.subscribe();
            // Before catching up, so that no slice goes by between the two.
            let tail = store.tail();
            reader::run(
                store.inner.pool.clone(),
                wake,
                tail,
                after.unwrap_or_default(),
                filter,
                tx,
                task_stop,
            )
            .await;
        });
        Subscription::new(rx, stop)
    }
}

impl PgEventStore {
    async fn duplicate_error(&self, events: &[NewEvent]) -> StoreError {
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let found: Result<Option<Uuid>, _> = sqlx::query_scalar(
            "SELECT event_id FROM event_store.events WHERE event_id = ANY($1) LIMIT 1",
        )
        .bind(&ids)
        .fetch_optional(&self.inner.pool)
        .await;
        match found {
            Ok(Some(id)) => StoreError::DuplicateEventId(id),
            Ok(None) => StoreError::Backend("duplicate event id vanished".into()),
            Err(e) => classify(e),
        }
    }
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// Forwards local commits to other processes as one coalesced `NOTIFY` at a time.
async fn announce(pool: PgPool, mut appended: watch::Receiver<u64>) {
    // Ends when the store (the sender) is dropped.
    while appended.changed().await.is_ok() {
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "could not announce appends; subscribers will poll");
        }
    }
}

/// Turns announcements from other processes into wake-ups, reconnecting as needed.
async fn listen(pool: PgPool, store: std::sync::Weak<Inner>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            loop {
                listener.recv().await?;
                let Some(inner) = store.upgrade() else {
                    return Ok::<(), sqlx::Error>(());
                };
                inner.wake.send_modify(|n| *n = n.wrapping_add(1));
            }
        };
        match listener.await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, "event listener lost its connection; retrying"),
        }
        if store.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn is_constraint(error: &sqlx::Error, name: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.constraint() == Some(name))
}

/// Connection trouble is `Unavailable` (retry later); everything else is a `Backend` fault.
pub fn classify(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P: operator intervention (shutdown, terminated);
            // 53300: too many connections.
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(error.into())
    } else {
        StoreError::Backend(error.into())
    }
}
