//! `train_removals`: trains taken off the schedule, one row per train.
//!
//! Their bookings' cancellations arrive as events of their own (reason `train_removed`), so
//! this table only records when the train went.

use super::{At, column, date_key, positions};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// Upserts each removal; a row set by a later position keeps it.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<i64, (DateTime<Utc>, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let trains = column(rows, |id, _| *id);
    let times = column(rows, |_, (at, _)| *at);
    let days = column(rows, |_, (at, _)| date_key(*at));
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.train_removals AS r (train_id, removed_at, removed_date_key,
             commit_position, prepare_position)
         SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::integer[], $4::bigint[],
                              $5::bigint[])
         ON CONFLICT (train_id) DO UPDATE SET
             removed_at = excluded.removed_at, removed_date_key = excluded.removed_date_key,
             commit_position = excluded.commit_position,
             prepare_position = excluded.prepare_position
         WHERE (r.commit_position, r.prepare_position)
               < (excluded.commit_position, excluded.prepare_position)",
    )
    .bind(&trains)
    .bind(&times)
    .bind(&days)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
