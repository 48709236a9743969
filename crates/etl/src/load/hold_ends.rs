//! The end half of `fact_hold`: when and how a hold stopped keeping its seats.
//!
//! It writes only the ended columns, guarded by their own position, so an end that arrives
//! before its hold makes the row and the hold fills in the rest later.

use super::{At, column, date_key, positions};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A `HoldReleased` or `HoldExpired` as `fact_hold` stores it.
pub(super) struct Ended {
    pub(super) train_id: i64,
    pub(super) at: DateTime<Utc>,
    /// `released`, `train_removed` or `expired`: the values `fact_hold.outcome` reads.
    pub(super) reason: &'static str,
}

/// Upserts the ended columns; a row whose end was set by a later position keeps it.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<String, (Ended, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids = column(rows, |id, _| id.as_str());
    let trains = column(rows, |_, (ended, _)| ended.train_id);
    let times = column(rows, |_, (ended, _)| ended.at);
    let days = column(rows, |_, (ended, _)| date_key(ended.at));
    let reasons = column(rows, |_, (ended, _)| ended.reason);
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.fact_hold AS h (hold_id, train_id, ended_at, ended_date_key,
             end_reason, ended_commit, ended_prepare)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::integer[],
                              $5::text[], $6::bigint[], $7::bigint[])
         ON CONFLICT (hold_id) DO UPDATE SET
             ended_at = excluded.ended_at, ended_date_key = excluded.ended_date_key,
             end_reason = excluded.end_reason, ended_commit = excluded.ended_commit,
             ended_prepare = excluded.ended_prepare
         WHERE h.ended_commit IS NULL
            OR (h.ended_commit, h.ended_prepare) < (excluded.ended_commit, excluded.ended_prepare)",
    )
    .bind(&ids)
    .bind(&trains)
    .bind(&times)
    .bind(&days)
    .bind(&reasons)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
