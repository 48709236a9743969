//! Checkpoints: where each projection, and the warehouse feed, stands in the log, and how
//! others learn it. One module for every row of `projections.checkpoints`, so the fenced
//! compare-and-set that keeps a stale leader from moving one back is written once.

use crate::ProjectorError;
use event_store::Position;
use sqlx::{PgConnection, PgPool};

/// Channel on which a committed checkpoint is announced as `"<projection> <position>"`.
pub const CHECKPOINT_CHANNEL: &str = "projection_checkpoints";

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
/// transaction, the feed after the broker confirmed its batch. The compare on `from` fences
/// off a second instance that still believes it is active: its move fails instead of going back.
pub(crate) async fn advance(
    tx: &mut PgConnection,
    name: &str,
    from: Position,
    to: Position,
) -> Result<(), ProjectorError> {
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
        return Err(ProjectorError::Fenced(name.to_owned()));
    }
    Ok(())
}

/// Tells waiting readers (read your writes) that a live checkpoint moved. Delivered on commit,
/// only if the batch commits.
pub(crate) async fn announce(
    tx: &mut PgConnection,
    name: &str,
    to: Position,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHECKPOINT_CHANNEL)
        .bind(format!("{name} {to}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Every projection's checkpoint, as committed.
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

    /// Parses an announcement sent on [`CHECKPOINT_CHANNEL`].
    pub fn parse_announcement(payload: &str) -> Option<(&str, Position)> {
        let (name, position) = payload.split_once(' ')?;
        Some((name, position.parse().ok()?))
    }
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
