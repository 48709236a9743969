//! `loaded_events`: every event id loaded, which is how a batch skips repeats.
//!
//! Recorded last in the batch, after the rows the events set; the read of known ids that
//! starts a batch stays with `load_in`, beside the advisory lock that makes it safe.

use super::At;
use chrono::{DateTime, Utc};
use projector::feed::FeedMessage;
use sqlx::PgConnection;
use uuid::Uuid;

/// Last statement of the batch, so `loaded_at` is as close to the commit as it gets.
pub(super) async fn record(
    tx: &mut PgConnection,
    fresh: &[&FeedMessage],
) -> Result<(), sqlx::Error> {
    if fresh.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = fresh.iter().map(|m| m.id).collect();
    let types: Vec<&str> = fresh.iter().map(|m| m.event_type.as_str()).collect();
    let commits: Vec<i64> = fresh.iter().map(|m| At::of(m).0).collect();
    let prepares: Vec<i64> = fresh.iter().map(|m| At::of(m).1).collect();
    let recorded: Vec<DateTime<Utc>> = fresh.iter().map(|m| m.recorded_at).collect();
    // DO NOTHING: a second etl instance may have loaded the same redelivered event meanwhile;
    // its rows are equal, so either write is right.
    sqlx::query(
        "INSERT INTO warehouse.loaded_events (event_id, event_type, commit_position,
             prepare_position, recorded_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                              $5::timestamptz[])
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&commits)
    .bind(&prepares)
    .bind(&recorded)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
