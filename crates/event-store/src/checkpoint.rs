//! Checkpoints: where each follower of the log (a projection, the warehouse feed, a reactor)
//! stands, how others learn it, and which instance of a follower is the active one.
//!
//! Checkpoints live in the read-model database (`projections.checkpoints`, created by the
//! projector's migrations), whichever adapter holds the log: a projection moves its checkpoint
//! in the same transaction as its rows. One module for every row, so the fenced
//! compare-and-set that keeps a stale leader from moving one back is written once, and both
//! the read side and the write side's reactors share it without depending on each other.

use crate::{Filter, Position};
use sqlx::{Connection, PgConnection, PgPool};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Channel on which committed checkpoints are announced, one `"<name> <position>"` per line.
pub const CHECKPOINT_CHANNEL: &str = "projection_checkpoints";

/// A checkpointed follower of the log: its checkpoint's name, the streams it reads and, for a
/// reactor, the event types it acts on.
#[derive(Debug, Clone)]
pub struct Follower {
    pub name: String,
    pub filter: Filter,
    /// The event types it acts on; empty for a follower that applies every event it reads.
    pub reacts_to: &'static [&'static str],
}

impl Follower {
    pub fn new(name: impl Into<String>, filter: Filter) -> Self {
        Self {
            name: name.into(),
            filter,
            reacts_to: &[],
        }
    }

    /// A follower that acts only on events of `types`: one waiting for what it did to an
    /// event of another type does not wait for it.
    pub fn reacting(
        name: impl Into<String>,
        filter: Filter,
        types: &'static [&'static str],
    ) -> Self {
        Self {
            reacts_to: types,
            ..Self::new(name, filter)
        }
    }

    /// Whether it acts on an event of `event_type` in `stream`.
    pub fn acts_on(&self, stream: &str, event_type: &str) -> bool {
        self.filter.matches(stream)
            && (self.reacts_to.is_empty() || self.reacts_to.contains(&event_type))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint database")]
    Database(#[from] sqlx::Error),
    #[error("another instance moved the checkpoint of {0}; standing down")]
    Fenced(String),
}

/// Where checkpoint `name` stands, creating it at the start of the log if it is new.
pub async fn load(pool: &PgPool, name: &str) -> Result<Position, sqlx::Error> {
    sqlx::query("INSERT INTO projections.checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    let (commit, prepare): (i64, i64) = sqlx::query_as(
        "SELECT commit_position, prepare_position FROM projections.checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await?;
    Ok(Position::new(to_u64(commit), to_u64(prepare)))
}

/// Moves the checkpoint from `from` to `to`: a projection does it inside its batch's
/// transaction, the feed after the broker confirmed its batch, a reactor after its commands
/// are recorded. The compare on `from` fences off a second instance that still believes it
/// is active: its move fails instead of going back.
pub async fn advance(
    tx: &mut PgConnection,
    name: &str,
    from: Position,
    to: Position,
) -> Result<(), CheckpointError> {
    let moved = sqlx::query(
        "UPDATE projections.checkpoints
         SET commit_position = $2, prepare_position = $3, updated_at = now()
         WHERE name = $1 AND commit_position = $4 AND prepare_position = $5",
    )
    .bind(name)
    .bind(to_i64(to.commit))
    .bind(to_i64(to.prepare))
    .bind(to_i64(from.commit))
    .bind(to_i64(from.prepare))
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(CheckpointError::Fenced(name.to_owned()));
    }
    Ok(())
}

/// Tells waiting readers (read your writes) that a live checkpoint moved. Delivered on commit,
/// only if the transaction commits.
pub async fn announce(tx: &mut PgConnection, name: &str, to: Position) -> Result<(), sqlx::Error> {
    announce_all(tx, &[name], to).await
}

/// Like [`announce`], for several checkpoints that moved to the same position in one
/// transaction: one notification for them all.
pub async fn announce_all(
    tx: &mut PgConnection,
    names: &[&str],
    to: Position,
) -> Result<(), sqlx::Error> {
    if names.is_empty() {
        return Ok(());
    }
    let payload: Vec<String> = names.iter().map(|name| format!("{name} {to}")).collect();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHECKPOINT_CHANNEL)
        .bind(payload.join("\n"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Every checkpoint, as committed.
pub struct Checkpoints;

impl Checkpoints {
    pub async fn all(pool: &PgPool) -> Result<Vec<(String, Position)>, sqlx::Error> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT name, commit_position, prepare_position FROM projections.checkpoints",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, c, p)| (name, Position::new(to_u64(c), to_u64(p))))
            .collect())
    }

    /// Parses an announcement sent on [`CHECKPOINT_CHANNEL`]: every checkpoint it names, and
    /// where each now stands. Lines that do not parse are skipped.
    pub fn parse_announcement(payload: &str) -> impl Iterator<Item = (&str, Position)> {
        payload.lines().filter_map(|line| {
            let (name, position) = line.rsplit_once(' ')?;
            Some((name, position.parse().ok()?))
        })
    }
}

/// The one active instance of a follower: a session advisory lock held on a connection of its
/// own. Correctness does not rest on it, because the checkpoint's compare-and-set fences a
/// stale leader off; it only keeps standbys from doing the work twice.
pub struct Leader {
    connection: PgConnection,
}

impl Leader {
    /// Becomes the active instance for `key`, or `None` while another instance is.
    pub async fn try_acquire(pool: &PgPool, key: &str) -> Result<Option<Self>, sqlx::Error> {
        let mut connection = pool.acquire().await?.detach();
        let leading: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if !leading {
            connection.close().await.ok();
            return Ok(None);
        }
        Ok(Some(Self { connection }))
    }

    /// Pings the lock's connection until it fails: then the lock is gone, and the caller
    /// must stop and elect again.
    pub async fn lost(&mut self) -> sqlx::Error {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Err(e) = self.connection.ping().await {
                return e;
            }
        }
    }

    /// Whether the lock is still held: an error means its connection, and with it the lock,
    /// is gone.
    pub async fn alive(&mut self) -> Result<(), sqlx::Error> {
        self.connection.ping().await
    }

    /// Gives the lock up by closing its connection.
    pub async fn release(self) {
        self.connection.close().await.ok();
    }
}

/// Runs `work` as the one active instance of `key` until `shutdown`. While another instance
/// leads, it stands by and tries again every `standby_poll`; when `work` stops (it only
/// returns why) or the lock's connection dies, it logs why and elects again, with backoff.
/// Projections and reactors run under it.
pub async fn lead<E, W, F>(
    pool: &PgPool,
    key: &str,
    standby_poll: Duration,
    shutdown: &CancellationToken,
    work: W,
) where
    E: std::fmt::Debug + From<sqlx::Error>,
    W: Fn() -> F,
    F: Future<Output = E>,
{
    let mut backoff = Duration::from_millis(200);
    let mut announced_standby = false;
    while !shutdown.is_cancelled() {
        let leader = tokio::select! {
            () = shutdown.cancelled() => return,
            leader = Leader::try_acquire(pool, key) => leader,
        };
        let stopped = match leader {
            Ok(Some(mut leader)) => {
                tracing::info!("active");
                announced_standby = false;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    stopped = work() => stopped,
                    lost = leader.lost() => E::from(lost),
                }
            }
            Ok(None) => {
                if !announced_standby {
                    tracing::info!("another instance is active; standing by");
                    announced_standby = true;
                }
                sleep_or(shutdown, standby_poll).await;
                continue;
            }
            Err(e) => E::from(e),
        };
        tracing::error!(error = ?stopped, "stopped; restarting");
        sleep_or(shutdown, backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn sleep_or(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}

/// Positions are stored as `bigint`; they never reach `i64::MAX`.
pub fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
