//! Reading the global log safely: only below the horizon of finished transactions.

use super::classify;
use crate::{Filter, Position, RecordedEvent, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
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
    let patterns: Vec<String> = filter
        .stream_prefixes()
        .iter()
        .map(|p| like_prefix(p))
        .collect();
    sqlx::query_as(
        "SELECT xid, seq, event_id, stream_id, revision, event_type, data, metadata, recorded_at
         FROM event_store.events
         WHERE (xid, seq) > ($1, $2) AND xid < $3
           AND (cardinality($4::text[]) = 0 OR stream_id LIKE ANY ($4))
         ORDER BY xid, seq
         LIMIT $5",
    )
    .bind(i64::try_from(after.commit).unwrap_or(i64::MAX))
    .bind(i64::try_from(after.prepare).unwrap_or(i64::MAX))
    .bind(xmin)
    .bind(patterns)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
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

/// The reader task behind a subscription: pages through the log below the horizon, hands
/// events to the bounded channel, and waits for wake-ups when caught up. Database errors are
/// retried with backoff from the last delivered position, so nothing is lost or repeated.
pub(super) async fn run(
    pool: PgPool,
    mut wake: watch::Receiver<u64>,
    after: Position,
    filter: Filter,
    events: mpsc::Sender<Result<RecordedEvent, StoreError>>,
    stop: CancellationToken,
) {
    // How far the log has been scanned; it runs ahead of the last delivered event when the
    // filter skips events, which is safe because everything below a horizon is final.
    let mut cursor = after;
    // A horizon stays valid for as long as we like; a fresh one is needed only to see newer
    // transactions, so it is reused while pages come back full.
    let mut cached: Option<i64> = None;
    let mut pending_wait = PENDING_POLL;
    let mut error_backoff = Duration::from_millis(50);
    loop {
        if stop.is_cancelled() || events.is_closed() {
            return;
        }
        // Mark wake-ups seen before reading, so an append that lands during the read
        // wakes the next wait instead of being missed.
        wake.borrow_and_update();
        let step = async {
            let horizon = match cached {
                Some(xmin) => Horizon {
                    xmin,
                    pending: false,
                },
                None => horizon(&pool).await?,
            };
            let rows = page(&pool, cursor, horizon.xmin, &filter, PAGE).await?;
            Ok::<_, sqlx::Error>((horizon, rows))
        };
        let (horizon, rows) = match step.await {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(error = %e, position = %cursor, "subscription read failed; retrying");
                cached = None;
                if sleep_or_stop(&stop, error_backoff).await {
                    return;
                }
                error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        error_backoff = Duration::from_millis(50);
        let full = rows.len() == PAGE;
        for row in rows {
            let event = RecordedEvent::from(row);
            cursor = event.position;
            if events.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let was_cached = cached.take().is_some();
        if full {
            cached = Some(horizon.xmin);
            continue;
        }
        // Everything matching below the horizon is delivered: skip the scan past it.
        cursor = cursor.max(Position::new(
            u64::try_from(horizon.xmin).unwrap_or_default(),
            0,
        ));
        if was_cached {
            // Caught up with an old horizon: look again with a fresh one before sleeping.
            continue;
        }
        if horizon.pending {
            // Committed events wait for an older transaction to finish. That is nearly always
            // an append still in flight, whose commit wakes us (locally or by NOTIFY), so
            // look again then; the backoff is for horizons held by other transactions.
            tokio::select! {
                () = stop.cancelled() => return,
                changed = wake.changed() => {
                    // No store left to wake us: poll.
                    if changed.is_err() && sleep_or_stop(&stop, pending_wait).await {
                        return;
                    }
                }
                () = tokio::time::sleep(pending_wait) => {
                    pending_wait = (pending_wait * 2).min(Duration::from_millis(20));
                }
            }
            continue;
        }
        pending_wait = PENDING_POLL;
        tokio::select! {
            () = stop.cancelled() => return,
            changed = wake.changed() => {
                if changed.is_err() && sleep_or_stop(&stop, IDLE_POLL).await {
                    return;
                }
            }
            () = tokio::time::sleep(IDLE_POLL) => {}
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
