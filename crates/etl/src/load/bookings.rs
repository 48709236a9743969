//! The booking half of `fact_booking`: which train was booked, when, in which class and at
//! what price, and what the train version in force at that moment says about route,
//! departure and lead time.
//!
//! It has a file of its own because a booking and its cancellation fill separate columns of
//! the same row, each only from its own event (see `cancellations`), so they can arrive in
//! either order without overwriting each other.

use super::{At, column, date_key, positions};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A `SeatBooked` as `fact_booking` stores it.
pub(super) struct Booked {
    pub(super) train_id: i64,
    pub(super) seat_count: i32,
    /// `first` or `second`; None for bookings made before seats existed.
    pub(super) class: Option<&'static str>,
    /// Amount in minor units and currency; None for bookings made before prices existed.
    pub(super) price: Option<(i64, String)>,
    pub(super) at: DateTime<Utc>,
}

/// Upserts the booked columns; a row whose booking was set by a later position keeps it.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<i64, (Booked, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids = column(rows, |id, _| *id);
    let trains = column(rows, |_, (booked, _)| booked.train_id);
    let times = column(rows, |_, (booked, _)| booked.at);
    let days = column(rows, |_, (booked, _)| date_key(booked.at));
    let seat_counts = column(rows, |_, (booked, _)| booked.seat_count);
    let classes = column(rows, |_, (booked, _)| booked.class);
    let amounts = column(rows, |_, (booked, _)| booked.price.as_ref().map(|p| p.0));
    let currencies = column(rows, |_, (booked, _)| {
        booked.price.as_ref().map(|p| p.1.as_str())
    });
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.fact_booking AS f (booking_id, train_id, train_version_key,
             route_key, booked_at, booked_date_key, departure_time, departure_date_key,
             lead_time_minutes, booked_commit, booked_prepare, seat_count, seat_class,
             price_amount, price_currency)
         SELECT u.booking_id, u.train_id, v.train_version_key, v.route_key, u.booked_at,
                u.day, v.departure_time, to_char(v.departure_time, 'YYYYMMDD')::integer,
                floor(extract(epoch FROM v.departure_time
                      - (u.booked_at AT TIME ZONE 'UTC')) / 60)::integer,
                u.c, u.p, u.seat_count, u.class, u.amount, u.currency
         FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::integer[],
                     $5::bigint[], $6::bigint[], $7::integer[], $8::text[], $9::bigint[],
                     $10::text[])
              AS u(booking_id, train_id, booked_at, day, c, p, seat_count, class, amount,
                   currency)
         LEFT JOIN LATERAL (
             SELECT d.train_version_key, d.route_key, d.departure_time
             FROM warehouse.dim_train d
             WHERE d.train_id = u.train_id AND (d.from_commit, d.from_prepare) <= (u.c, u.p)
             ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v ON true
         ON CONFLICT (booking_id) DO UPDATE SET
             train_id = excluded.train_id, train_version_key = excluded.train_version_key,
             route_key = excluded.route_key, booked_at = excluded.booked_at,
             booked_date_key = excluded.booked_date_key,
             departure_time = excluded.departure_time,
             departure_date_key = excluded.departure_date_key,
             lead_time_minutes = excluded.lead_time_minutes,
             booked_commit = excluded.booked_commit, booked_prepare = excluded.booked_prepare,
             seat_count = excluded.seat_count, seat_class = excluded.seat_class,
             price_amount = excluded.price_amount, price_currency = excluded.price_currency
         WHERE f.booked_commit IS NULL
            OR (f.booked_commit, f.booked_prepare) < (excluded.booked_commit, excluded.booked_prepare)",
    )
    .bind(&ids)
    .bind(&trains)
    .bind(&times)
    .bind(&days)
    .bind(&commits)
    .bind(&prepares)
    .bind(&seat_counts)
    .bind(&classes)
    .bind(&amounts)
    .bind(&currencies)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
