//! `fact_train_seats_daily`: each train's seats at the end of each day on which they changed.
//!
//! Most events carry only seats left; the capacity comes from the train version in force at
//! the event's position, which a late version corrects afterwards (see `trains`).

use super::{At, column, positions};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// Seats after one event, keyed by train and day in `Rows`.
pub(super) struct Seats {
    /// Set by the events that carry it (registration, details changed); otherwise looked up.
    pub(super) capacity: Option<i32>,
    pub(super) seats_left: i32,
}

/// Upserts each train's day; the last event of the day (by position) wins.
pub(super) async fn write(
    tx: &mut PgConnection,
    rows: &BTreeMap<(i64, i32), (Seats, At)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let trains = column(rows, |(train_id, _), _| *train_id);
    let days = column(rows, |(_, day), _| *day);
    let capacities = column(rows, |_, (seats, _)| seats.capacity);
    let left = column(rows, |_, (seats, _)| seats.seats_left);
    let (commits, prepares) = positions(rows);
    sqlx::query(
        "INSERT INTO warehouse.fact_train_seats_daily AS s (train_id, date_key, capacity,
             seats_left, commit_position, prepare_position)
         SELECT u.train_id, u.day, coalesce(u.capacity, v.capacity), u.seats_left, u.c, u.p
         FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[],
                     $5::bigint[], $6::bigint[]) AS u(train_id, day, capacity, seats_left, c, p)
         LEFT JOIN LATERAL (
             SELECT d.capacity FROM warehouse.dim_train d
             WHERE d.train_id = u.train_id AND (d.from_commit, d.from_prepare) <= (u.c, u.p)
             ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v ON true
         ON CONFLICT (train_id, date_key) DO UPDATE SET
             capacity = excluded.capacity, seats_left = excluded.seats_left,
             commit_position = excluded.commit_position,
             prepare_position = excluded.prepare_position
         WHERE (s.commit_position, s.prepare_position)
               < (excluded.commit_position, excluded.prepare_position)",
    )
    .bind(&trains)
    .bind(&days)
    .bind(&capacities)
    .bind(&left)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
