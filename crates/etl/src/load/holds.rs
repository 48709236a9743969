//! The hold half of `fact_hold`: which train's seats were held, when, how many, and the
//! quote fixed in the hold.
//!
//! A hold and its end fill separate columns of the same row, each only from its own event
//! (see `hold_ends`), so they can arrive in either order, as a booking and its cancellation do.
//! The owner is an account id and stays out: the warehouse keeps no one's identity.

use super::{At, column, date_key, positions};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A `SeatsHeld` as `fact_hold` stores it.
pub(super) struct Held {
    pub(super) train_id: i64,
    pub(super) seat_count: i32,
    /// The quote's total, in minor units of `currency`.
    pub(super) total: i64,
    pub(super) currency: String,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) at: DateTime<Utc>,
}

/// Upserts the held columns; a row whose hold was set by a later position keeps it.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<String, (Held, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids = column(rows, |id, _| id.as_str());
    let trains = column(rows, |_, (held, _)| held.train_id);
    let times = column(rows, |_, (held, _)| held.at);
    let days = column(rows, |_, (held, _)| date_key(held.at));
    let seat_counts = column(rows, |_, (held, _)| held.seat_count);
    let totals = column(rows, |_, (held, _)| held.total);
    let currencies = column(rows, |_, (held, _)| held.currency.as_str());
    let expiries = column(rows, |_, (held, _)| held.expires_at);
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.fact_hold AS h (hold_id, train_id, held_at, held_date_key,
             seat_count, quote_total, currency, expires_at, held_commit, held_prepare)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::integer[],
                              $5::integer[], $6::bigint[], $7::text[], $8::timestamptz[],
                              $9::bigint[], $10::bigint[])
         ON CONFLICT (hold_id) DO UPDATE SET
             train_id = excluded.train_id, held_at = excluded.held_at,
             held_date_key = excluded.held_date_key, seat_count = excluded.seat_count,
             quote_total = excluded.quote_total, currency = excluded.currency,
             expires_at = excluded.expires_at, held_commit = excluded.held_commit,
             held_prepare = excluded.held_prepare
         WHERE h.held_commit IS NULL
            OR (h.held_commit, h.held_prepare) < (excluded.held_commit, excluded.held_prepare)",
    )
    .bind(&ids)
    .bind(&trains)
    .bind(&times)
    .bind(&days)
    .bind(&seat_counts)
    .bind(&totals)
    .bind(&currencies)
    .bind(&expiries)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
