//! The cancellation half of `fact_booking`: when and why a booking ended.
//!
//! It writes only the cancelled columns, guarded by their own position, so a cancellation
//! that arrives before its booking makes the row and the booking fills in the rest later.

use super::{At, column, date_key, positions};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A `BookingCancelled` as `fact_booking` stores it.
pub(super) struct Cancelled {
    pub(super) train_id: i64,
    pub(super) at: DateTime<Utc>,
    /// `requested` or `train_removed`: the values `fact_booking.status` reads.
    pub(super) reason: &'static str,
}

/// Upserts the cancelled columns; a row whose cancellation was set by a later position keeps it.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<i64, (Cancelled, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids = column(rows, |id, _| *id);
    let trains = column(rows, |_, (cancelled, _)| cancelled.train_id);
    let times = column(rows, |_, (cancelled, _)| cancelled.at);
    let days = column(rows, |_, (cancelled, _)| date_key(cancelled.at));
    let reasons = column(rows, |_, (cancelled, _)| cancelled.reason);
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.fact_booking AS f (booking_id, train_id, cancelled_at,
             cancelled_date_key, cancel_reason, cancelled_commit, cancelled_prepare)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::integer[],
                              $5::text[], $6::bigint[], $7::bigint[])
         ON CONFLICT (booking_id) DO UPDATE SET
             cancelled_at = excluded.cancelled_at,
             cancelled_date_key = excluded.cancelled_date_key,
             cancel_reason = excluded.cancel_reason,
             cancelled_commit = excluded.cancelled_commit,
             cancelled_prepare = excluded.cancelled_prepare
         WHERE f.cancelled_commit IS NULL
            OR (f.cancelled_commit, f.cancelled_prepare)
               < (excluded.cancelled_commit, excluded.cancelled_prepare)",
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
