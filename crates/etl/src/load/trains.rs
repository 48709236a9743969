//! `dim_train`: trains with history (type 2), one row per version of a train's details.
//!
//! A version is placed by its log position, so one that arrives late still lands in its
//! place: the versions around it are closed again, and the booking and seat rows stored
//! since its position are resolved against it. That repair is why this writer touches
//! `fact_booking` and `fact_train_seats_daily` too.

use super::{At, routes};
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A train's details as one event set them.
pub(super) struct Version {
    pub(super) route: String,
    pub(super) departure: NaiveDateTime,
    pub(super) arrival: NaiveDateTime,
    pub(super) capacity: i32,
    pub(super) valid_from: DateTime<Utc>,
}

/// Inserts the versions (and their routes first), then closes each train's
/// versions where the next begins and repairs rows the new versions should have preceded.
pub(super) async fn write(
    tx: &mut PgConnection,
    versions: &BTreeMap<(i64, At), Version>,
) -> Result<(), sqlx::Error> {
    if versions.is_empty() {
        return Ok(());
    }
    routes::write(tx, versions).await?;

    let mut columns = VersionColumns::default();
    for ((train_id, at), v) in versions {
        columns.train_ids.push(*train_id);
        columns.routes.push(v.route.as_str());
        columns.departures.push(v.departure);
        columns.arrivals.push(v.arrival);
        columns.capacities.push(v.capacity);
        columns.valid_from.push(v.valid_from);
        columns.commits.push(at.0);
        columns.prepares.push(at.1);
    }
    sqlx::query(
        "INSERT INTO warehouse.dim_train (train_id, route_key, departure_time, arrival_time,
             capacity, valid_from, from_commit, from_prepare)
         SELECT u.train_id, r.route_key, u.departure, u.arrival, u.capacity, u.valid_from,
                u.c, u.p
         FROM unnest($1::bigint[], $2::text[], $3::timestamp[], $4::timestamp[],
                     $5::integer[], $6::timestamptz[], $7::bigint[], $8::bigint[])
              AS u(train_id, route, departure, arrival, capacity, valid_from, c, p)
         JOIN warehouse.dim_route r ON r.route = u.route
         ON CONFLICT (train_id, from_commit, from_prepare) DO NOTHING",
    )
    .bind(&columns.train_ids)
    .bind(&columns.routes)
    .bind(&columns.departures)
    .bind(&columns.arrivals)
    .bind(&columns.capacities)
    .bind(&columns.valid_from)
    .bind(&columns.commits)
    .bind(&columns.prepares)
    .execute(&mut *tx)
    .await?;

    // Each train's versions close where the next begins; only the last is current.
    let mut trains = columns.train_ids.clone();
    trains.dedup();
    sqlx::query(
        "UPDATE warehouse.dim_train d
         SET valid_to = n.next_from, is_current = n.next_commit IS NULL
         FROM (SELECT train_version_key,
                      lead(valid_from) OVER (PARTITION BY train_id
                                             ORDER BY from_commit, from_prepare) AS next_from,
                      lead(from_commit) OVER (PARTITION BY train_id
                                              ORDER BY from_commit, from_prepare) AS next_commit
               FROM warehouse.dim_train WHERE train_id = ANY($1)) n
         WHERE d.train_version_key = n.train_version_key
           AND (d.valid_to IS DISTINCT FROM n.next_from
                OR d.is_current <> (n.next_commit IS NULL))",
    )
    .bind(&trains)
    .execute(&mut *tx)
    .await?;

    resolve_late(tx, versions).await
}

/// Rows already stored that a version of this batch should have preceded (it arrived out
/// of order) are resolved again. In position order this matches nothing.
async fn resolve_late(
    tx: &mut PgConnection,
    versions: &BTreeMap<(i64, At), Version>,
) -> Result<(), sqlx::Error> {
    let mut first: BTreeMap<i64, At> = BTreeMap::new();
    for (train_id, at) in versions.keys() {
        first.entry(*train_id).or_insert(*at);
    }
    let trains: Vec<i64> = first.keys().copied().collect();
    let commits: Vec<i64> = first.values().map(|a| a.0).collect();
    let prepares: Vec<i64> = first.values().map(|a| a.1).collect();
    sqlx::query(
        "UPDATE warehouse.fact_booking f
         SET train_version_key = r.train_version_key, route_key = r.route_key,
             departure_time = r.departure_time,
             departure_date_key = to_char(r.departure_time, 'YYYYMMDD')::integer,
             lead_time_minutes = floor(extract(epoch FROM r.departure_time
                                  - (f.booked_at AT TIME ZONE 'UTC')) / 60)::integer
         FROM (SELECT b.booking_id, v.*
               FROM warehouse.fact_booking b
               JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS n(train_id, c, p)
                 ON b.train_id = n.train_id AND (b.booked_commit, b.booked_prepare) > (n.c, n.p)
               CROSS JOIN LATERAL (
                   SELECT d.train_version_key, d.route_key, d.departure_time
                   FROM warehouse.dim_train d
                   WHERE d.train_id = b.train_id
                     AND (d.from_commit, d.from_prepare) <= (b.booked_commit, b.booked_prepare)
                   ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v) r
         WHERE f.booking_id = r.booking_id",
    )
    .bind(&trains)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE warehouse.fact_train_seats_daily s SET capacity = r.capacity
         FROM (SELECT x.train_id, x.date_key, v.capacity
               FROM warehouse.fact_train_seats_daily x
               JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS n(train_id, c, p)
                 ON x.train_id = n.train_id
                AND (x.commit_position, x.prepare_position) > (n.c, n.p)
               CROSS JOIN LATERAL (
                   SELECT d.capacity FROM warehouse.dim_train d
                   WHERE d.train_id = x.train_id
                     AND (d.from_commit, d.from_prepare) <= (x.commit_position, x.prepare_position)
                   ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v) r
         WHERE s.train_id = r.train_id AND s.date_key = r.date_key
           AND s.capacity IS DISTINCT FROM r.capacity",
    )
    .bind(&trains)
    .bind(&commits)
    .bind(&prepares)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Default)]
struct VersionColumns<'a> {
    train_ids: Vec<i64>,
    routes: Vec<&'a str>,
    departures: Vec<NaiveDateTime>,
    arrivals: Vec<NaiveDateTime>,
    capacities: Vec<i32>,
    valid_from: Vec<DateTime<Utc>>,
    commits: Vec<i64>,
    prepares: Vec<i64>,
}
