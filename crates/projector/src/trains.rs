//! The trains read model: one row per train on the schedule, with its seats left.
//!
//! A batch is folded in memory first, so a thousand bookings on one train become one update.

use crate::Projection;
use domain::TrainId;
use domain::{DomainEvent, TrainDetails, TrainEvent};
use sqlx::PgConnection;
use std::collections::BTreeMap;

struct Row {
    details: TrainDetails,
    capacity: i32,
    available_seats: i32,
}

enum Change {
    Upsert(Row),
    Seats(i32),
    Delete,
}

fn seats(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `trains`: the schedule and seats left.
pub(crate) const PROJECTION: Projection = Projection::new(
    "trains",
    &[TrainId::STREAM_PREFIX],
    &["trains"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
    for &event in events {
        let DomainEvent::Train(event) = event else {
            continue;
        };
        let id = event.train_id().0;
        match event {
            TrainEvent::TrainRegistered {
                details, capacity, ..
            } => {
                let row = Row {
                    details: details.clone(),
                    capacity: seats(*capacity),
                    available_seats: seats(*capacity),
                };
                changes.insert(id, Change::Upsert(row));
            }
            TrainEvent::TrainDetailsChanged {
                details,
                capacity,
                seats_left,
                ..
            } => {
                let row = Row {
                    details: details.clone(),
                    capacity: seats(*capacity),
                    available_seats: seats(*seats_left),
                };
                changes.insert(id, Change::Upsert(row));
            }
            TrainEvent::SeatBooked { seats_left, .. }
            | TrainEvent::BookingCancelled { seats_left, .. } => {
                let left = seats(*seats_left);
                match changes.entry(id).or_insert(Change::Seats(left)) {
                    Change::Upsert(row) => row.available_seats = left,
                    Change::Seats(current) => *current = left,
                    Change::Delete => {}
                }
            }
            TrainEvent::TrainRemoved { .. } => {
                changes.insert(id, Change::Delete);
            }
            TrainEvent::BookingHolderChanged { .. } => {}
        }
    }

    let mut upserts = Upserts::default();
    let (mut seat_ids, mut seat_counts, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    for (id, change) in changes {
        match change {
            Change::Upsert(row) => upserts.push(id, row),
            Change::Seats(n) => {
                seat_ids.push(id);
                seat_counts.push(n);
            }
            Change::Delete => deletes.push(id),
        }
    }
    if !upserts.ids.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {schema}.trains (id, route, departure_time, arrival_time, capacity, available_seats)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamp[], $4::timestamp[], $5::int[], $6::int[])
             ON CONFLICT (id) DO UPDATE SET route = excluded.route, departure_time = excluded.departure_time,
                 arrival_time = excluded.arrival_time, capacity = excluded.capacity,
                 available_seats = excluded.available_seats",
        ))
        .bind(&upserts.ids)
        .bind(&upserts.routes)
        .bind(&upserts.departures)
        .bind(&upserts.arrivals)
        .bind(&upserts.capacities)
        .bind(&upserts.available)
        .execute(&mut *tx)
        .await?;
    }
    if !seat_ids.is_empty() {
        sqlx::query(&format!(
            "UPDATE {schema}.trains t SET available_seats = u.seats
             FROM unnest($1::bigint[], $2::int[]) AS u(id, seats) WHERE t.id = u.id",
        ))
        .bind(&seat_ids)
        .bind(&seat_counts)
        .execute(&mut *tx)
        .await?;
    }
    if !deletes.is_empty() {
        sqlx::query(&format!("DELETE FROM {schema}.trains WHERE id = ANY($1)"))
            .bind(&deletes)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Column arrays for one multi-row upsert.
#[derive(Default)]
struct Upserts {
    ids: Vec<i64>,
    routes: Vec<String>,
    departures: Vec<chrono::NaiveDateTime>,
    arrivals: Vec<chrono::NaiveDateTime>,
    capacities: Vec<i32>,
    available: Vec<i32>,
}

impl Upserts {
    fn push(&mut self, id: i64, row: Row) {
        self.ids.push(id);
        self.routes.push(row.details.route.to_string());
        self.departures.push(row.details.departure_time.naive());
        self.arrivals.push(row.details.arrival_time.naive());
        self.capacities.push(row.capacity);
        self.available.push(row.available_seats);
    }
}
