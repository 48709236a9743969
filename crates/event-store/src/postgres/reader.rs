//! Reading the global log safely: only below the horizon of finished transactions.

use super::classify;
use crate::{Filter, Position, RecordedEvent, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events read per query.
const PAGE: usize = 1000;
/// Poll even without a wake-up this often, in case a notification was lost.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// First wait when committed events sit above the horizon, waiting for an older transaction.
const PENDING_POLL: Duration = Duration::from_millis(1);
/// Longest a one-off read waits for older transactions before giving up.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    xid: i64,
    seq: i64,
    event_id: Uuid,
    stream_id: String,
    revision: i64,
    event_type: String,
    data: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: DateTime<Utc>,
}

impl From<EventRow> for RecordedEvent {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.event_id,
            stream: row.stream_id,
            revision: u64::try_from(row.revision).unwrap_or_default(),
            position: Position::new(
                u64::try_from(row.xid).unwrap_or_default(),
                u64::try_from(row.seq).unwrap_or_default(),
            ),
            event_type: row.event_type,
            data: row.data,
            metadata: row.metadata,
            recorded_at: row.recorded_at,
        }
    }
}

/// The oldest transaction still running when the statement ran: everything below it has
/// finished. `pending` says whether committed events already wait at or above it.
#[derive(sqlx::FromRow)]
pub(super) struct Horizon {
    pub xmin: i64,
    pub pending: bool,
}

/// Reads the horizon. `pending` compares the newest event with it rather than asking `EXISTS (... xid >=
/// xmin)`: a subscriber's connection keeps the plan it made when the log was empty, and for
/// that `EXISTS` the planner then picks a sequential scan, which reads the whole log on every
/// poll once it has grown (6.6 ms at 50,000 events; the stack benchmark found the readers
/// using a core at 200 bookings/s). `max(xid)` is always one step down the primary key.
pub(super) async fn horizon(pool: &PgPool) -> Result<Horizon, sqlx::Error> {
    sqlx::query_as(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
         SELECT h.xmin,
                coalesce((SELECT max(e.xid) FROM event_store.events e), -1) >= h.xmin AS pending
         FROM h",
    )
    .fetch_one(pool)
    .await
}

/// A horizon above every event committed when this is called, so a read below it includes
/// them all (read your writes). Waits for older transactions still running to end; fails as
/// unavailable if one holds the horizon back for longer than `SETTLE_LIMIT`.
pub(super) async fn settled_horizon(pool: &PgPool) -> Result<i64, StoreError> {
    let newest: i64 = sqlx::query_scalar("SELECT coalesce(max(xid), 0) FROM event_store.events")
        .fetch_one(pool)
        .await
        .map_err(classify)?;
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    let mut wait = PENDING_POLL;
    loop {
        let current = horizon(pool).await.map_err(classify)?;
        if current.xmin > newest {
            return Ok(current.xmin);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(
                "a long-running transaction holds the event log's read horizon back".into(),
            ));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(20));
    }
}

/// Matching events after `after` whose transaction is below `xmin`, in position order.
pub(super) async fn page(
    pool: &PgPool,
    after: Position,
    xmin: i64,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<EventRow>, sqlx::Error> {
    // Below `xmin` is up to the last position a transaction before it can have.
    rows(pool, after, (xmin - 1, i64::MAX), filter, limit).await
}

/// Matching events after `after` up to and including `until`, which is final (see [`Slice`]).
async fn between(
    pool: &PgPool,
    after: Position,
    until: Position,
    filter: &Filter,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let until = (to_i64(until.commit), to_i64(until.prepare));
    rows(pool, after, until, filter, PAGE).await
}

/// Matching events after `after` up to and including the position `until`, in position order.
async fn rows(
    pool: &PgPool,
    after: Position,
    until: (i64, i64),
    filter: &Filter,
    limit: usize,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let patterns: Vec<String> = filter
        .stream_prefixes()
        .iter()
        .map(|p| like_prefix(p))
        .collect();
    sqlx::query_as(
        "SELECT xid, seq, event_id, stream_id, revision, event_type, data, metadata, recorded_at
         FROM event_store.events
         WHERE (xid, seq) > ($1, $2) AND (xid, seq) <= ($3, $4)
           AND (cardinality($5::text[]) = 0 OR stream_id LIKE ANY ($5))
         ORDER BY xid, seq
         LIMIT $6",
    )
    .bind(to_i64(after.commit))
    .bind(to_i64(after.prepare))
    .bind(until.0)
    .bind(until.1)
    .bind(patterns)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Slices of the live log the tail reader keeps for subscriptions that have not taken them
/// yet. One that falls further behind reads the log itself until it has caught up again.
pub(super) const TAIL_SLICES: usize = 1024;

/// A stretch of the log as the tail reader read it: every event after `from` up to and
/// including `to`, of every stream, in position order (none, when the reader only learned
/// that the log is final further on). Consecutive slices join (`from` is the previous slice's
/// `to`), and everything up to `to` is final: every transaction below it has ended.
pub(super) struct Slice {
    from: Position,
    to: Position,
    events: Vec<RecordedEvent>,
}

/// The store's one reader of the live log: from the horizon when it starts, it reads every new
/// event once, as subscriptions did each for itself, and hands them out in [`Slice`]s. Ends
/// when the store is gone.
pub(super) async fn tail(
    pool: PgPool,
    mut wake: watch::Receiver<u64>,
    slices: broadcast::Sender<Arc<Slice>>,
    store: Weak<impl Send + Sync>,
) {
    let mut backoff = Duration::from_millis(50);
    let start = loop {
        match horizon(&pool).await {
            Ok(horizon) => break Position::new(u64::try_from(horizon.xmin).unwrap_or_default(), 0),
            Err(e) => {
                tracing::warn!(error = %e, "the log's tail reader could not start; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    let mut reading = Reading::new(start, Filter::all());
    let mut published = start;
    while store.strong_count() > 0 {
        wake.borrow_and_update();
        let (events, state) = reading.step(&pool).await;
        // Every step that moved the cursor is published, events or not: a subscription that
        // caught up below where this reader started learns so from the next slice (and reads
        // the stretch between for itself), instead of waiting for an event that may not come.
        if reading.cursor > published {
            let slice = Slice {
                from: published,
                to: reading.cursor,
                events,
            };
            published = reading.cursor;
            // None listening: the next one to subscribe starts after this anyway.
            let _ = slices.send(Arc::new(slice));
        }
        if !reading.wait(state, &mut wake, None).await {
            return;
        }
    }
}

/// The reader task behind a subscription: reads the log itself (pages below the horizon) until
/// it has caught up, then takes the live log from the tail reader's slices, reading the log
/// again whenever it falls too far behind them. Database errors are retried with backoff from
/// the last delivered position, so nothing is lost or repeated.
pub(super) async fn run(
    pool: PgPool,
    mut wake: watch::Receiver<u64>,
    mut tail: broadcast::Receiver<Arc<Slice>>,
    after: Position,
    filter: Filter,
    events: mpsc::Sender<Result<RecordedEvent, StoreError>>,
    stop: CancellationToken,
) {
    let mut reading = Reading::new(after, filter);
    loop {
        // Catch up alone.
        loop {
            if stop.is_cancelled() || events.is_closed() {
                return;
            }
            wake.borrow_and_update();
            let (read, state) = reading.step(&pool).await;
            for event in read {
                if events.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            match state {
                State::More => {}
                State::CaughtUp { .. } => break,
                State::Failed => {
                    if !reading.wait(state, &mut wake, Some(&stop)).await {
                        return;
                    }
                }
            }
        }
        // Then follow the tail, until stopped or left behind.
        match live(&pool, &mut tail, &mut reading, &events, &stop).await {
            Live::Stopped => return,
            Live::Behind => tail = tail.resubscribe(),
        }
    }
}

enum Live {
    Stopped,
    Behind,
}

/// Delivers the tail's slices from where `reading` stands; reads the stretch between the two
/// from the log when a slice starts after it.
async fn live(
    pool: &PgPool,
    tail: &mut broadcast::Receiver<Arc<Slice>>,
    reading: &mut Reading,
    events: &mpsc::Sender<Result<RecordedEvent, StoreError>>,
    stop: &CancellationToken,
) -> Live {
    loop {
        let slice = tokio::select! {
            () = stop.cancelled() => return Live::Stopped,
            slice = tail.recv() => slice,
        };
        let slice = match slice {
            Ok(slice) => slice,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, position = %reading.cursor, "fell behind the log's tail; reading for itself");
                return Live::Behind;
            }
            // The tail ends only with the store, which this task keeps alive; poll if it did.
            Err(broadcast::error::RecvError::Closed) => {
                if sleep_or_stop(stop, IDLE_POLL).await {
                    return Live::Stopped;
                }
                return Live::Behind;
            }
        };
        if slice.to <= reading.cursor {
            continue;
        }
        if slice.from > reading.cursor {
            // Final up to `slice.from`: read that stretch as it is.
            let mut backoff = Duration::from_millis(50);
            loop {
                match between(pool, reading.cursor, slice.from, &reading.filter).await {
                    Ok(rows) => {
                        let full = rows.len() == PAGE;
                        for row in rows {
                            let event = RecordedEvent::from(row);
                            reading.cursor = event.position;
                            if events.send(Ok(event)).await.is_err() {
                                return Live::Stopped;
                            }
                        }
                        if !full {
                            reading.cursor = slice.from;
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, position = %reading.cursor, "subscription read failed; retrying");
                        if sleep_or_stop(stop, backoff).await {
                            return Live::Stopped;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        for event in &slice.events {
            let wanted = event.position > reading.cursor && reading.filter.matches(&event.stream);
            if wanted && events.send(Ok(event.clone())).await.is_err() {
                return Live::Stopped;
            }
        }
        reading.cursor = slice.to;
    }
}

/// Where a page left a reader.
#[derive(Clone, Copy)]
enum State {
    /// A full page: read on at once.
    More,
    /// Everything matching below the horizon is read. `pending`: committed events wait above
    /// it for an older transaction to end.
    CaughtUp { pending: bool },
    /// The read failed; wait, then try again.
    Failed,
}

/// Reading the log in pages below the horizon, from `cursor`.
struct Reading {
    /// How far the log has been scanned; it runs ahead of the last delivered event when the
    /// filter skips events, which is safe because everything below a horizon is final.
    cursor: Position,
    filter: Filter,
    /// A horizon stays valid for as long as we like; a fresh one is needed only to see newer
    /// transactions, so it is reused while pages come back full.
    cached: Option<i64>,
    pending_wait: Duration,
    error_backoff: Duration,
}

impl Reading {
    fn new(cursor: Position, filter: Filter) -> Self {
        Self {
            cursor,
            filter,
            cached: None,
            pending_wait: PENDING_POLL,
            error_backoff: Duration::from_millis(50),
        }
    }

    /// Reads one page after the cursor and moves the cursor past it.
    async fn step(&mut self, pool: &PgPool) -> (Vec<RecordedEvent>, State) {
        let step = async {
            let horizon = match self.cached {
                Some(xmin) => Horizon {
                    xmin,
                    pending: false,
                },
                None => horizon(pool).await?,
            };
            let rows = page(pool, self.cursor, horizon.xmin, &self.filter, PAGE).await?;
            Ok::<_, sqlx::Error>((horizon, rows))
        };
        let (horizon, rows) = match step.await {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(error = %e, position = %self.cursor, "subscription read failed; retrying");
                self.cached = None;
                return (Vec::new(), State::Failed);
            }
        };
        self.error_backoff = Duration::from_millis(50);
        let full = rows.len() == PAGE;
        let events: Vec<RecordedEvent> = rows.into_iter().map(RecordedEvent::from).collect();
        if let Some(last) = events.last() {
            self.cursor = last.position;
        }
        let was_cached = self.cached.take().is_some();
        if full {
            self.cached = Some(horizon.xmin);
            return (events, State::More);
        }
        // Everything matching below the horizon is read: skip the scan past it.
        self.cursor = self.cursor.max(Position::new(
            u64::try_from(horizon.xmin).unwrap_or_default(),
            0,
        ));
        if was_cached {
            // Caught up with an old horizon: look again with a fresh one before sleeping.
            return (events, State::More);
        }
        let pending = horizon.pending;
        (events, State::CaughtUp { pending })
    }

    /// Waits as `state` calls for before the next step: not at all after a full page, with
    /// backoff after a failure, for a wake-up (or a short poll) when caught up. False when
    /// `stop` is cancelled or, for the tail, when the store is gone.
    async fn wait(
        &mut self,
        state: State,
        wake: &mut watch::Receiver<u64>,
        stop: Option<&CancellationToken>,
    ) -> bool {
        let stopped = async {
            match stop {
                Some(stop) => stop.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let poll = match state {
            State::More => return true,
            State::Failed => {
                let wait = self.error_backoff;
                self.error_backoff = (self.error_backoff * 2).min(Duration::from_secs(5));
                return tokio::select! {
                    () = stopped => false,
                    () = tokio::time::sleep(wait) => true,
                };
            }
            // Committed events wait for an older transaction to finish. That is nearly always
            // an append still in flight, whose commit wakes us (locally or by NOTIFY), so look
            // again then; the backoff is for horizons held by other transactions.
            State::CaughtUp { pending: true } => {
                let wait = self.pending_wait;
                self.pending_wait = (self.pending_wait * 2).min(Duration::from_millis(20));
                wait
            }
            State::CaughtUp { pending: false } => {
                self.pending_wait = PENDING_POLL;
                IDLE_POLL
            }
        };
        tokio::select! {
            () = stopped => false,
            // No store left to wake us: the tail ends, a subscription polls.
            changed = wake.changed() => changed.is_ok() || stop.is_some(),
            () = tokio::time::sleep(poll) => true,
        }
    }
}

/// Sleeps unless stopped first; true when stopped.
async fn sleep_or_stop(stop: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}
