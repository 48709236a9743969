//! The trains read model: one row per train on the schedule, with its seats left, its coaches
//! and tariff; and the seats its bookings and holds take.
//!
//! A batch is folded in memory first, so a thousand bookings on one train become one update,
//! and a seat taken and freed within one batch never touches the table.

use crate::Projection;
use chrono::{DateTime, Utc};
use domain::TrainId;
use domain::{DomainEvent, SeatId, TrainDetails, TrainEvent};
use sqlx::PgConnection;
use std::collections::BTreeMap;

struct Row {
    details: TrainDetails,
    capacity: i32,
    available_seats: i32,
    /// The coaches and tariff as recorded; `None` keeps what the row has (a change recorded
    /// before seats existed, or any change for the tariff).
    layout: Option<serde_json::Value>,
    tariff: Option<serde_json::Value>,
}

/// Who takes a seat, as the `seats_taken` table has it.
struct Taken {
    booking_id: Option<i64>,
    hold_id: Option<String>,
    owner_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
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
    &["trains", "seats_taken"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
    let (mut cancelled_bookings, mut removed_trains) = (Vec::new(), Vec::new());
    let mut extended: Vec<(i64, String, DateTime<Utc>)> = Vec::new();
    // `None`: the seat is free again.
    let mut taken: BTreeMap<(i64, String), Option<Taken>> = BTreeMap::new();
    let free = |seats: &[SeatId], id: i64, taken: &mut BTreeMap<(i64, String), Option<Taken>>| {
        for seat in seats {
            taken.insert((id, seat.to_string()), None);
        }
    };
    for &event in events {
        let DomainEvent::Train(event) = event else {
            continue;
        };
        let id = event.train_id().0;
        match event {
            TrainEvent::TrainRegistered {
                details,
                capacity,
                layout,
                tariff,
                ..
            } => {
                let row = Row {
                    details: details.clone(),
                    capacity: seats(*capacity),
                    available_seats: seats(*capacity),
                    layout: layout.as_ref().and_then(|l| serde_json::to_value(l).ok()),
                    tariff: tariff.as_ref().and_then(|t| serde_json::to_value(t).ok()),
                };
                changes.insert(id, Change::Upsert(row));
            }
            TrainEvent::TrainDetailsChanged {
                details,
                capacity,
                seats_left,
                layout,
                ..
            } => {
                let mut row = Row {
                    details: details.clone(),
                    capacity: seats(*capacity),
                    available_seats: seats(*seats_left),
                    layout: layout.as_ref().and_then(|l| serde_json::to_value(l).ok()),
                    tariff: None,
                };
                // A registration earlier in this batch is not in the table yet: what the
                // change leaves as it was must come from it, not from the row.
                if let Some(Change::Upsert(earlier)) = changes.remove(&id) {
                    row.tariff = earlier.tariff;
                    row.layout = row.layout.or(earlier.layout);
                }
                changes.insert(id, Change::Upsert(row));
            }
            TrainEvent::SeatBooked {
                seats_left,
                seat,
                booking_id,
                user_credentials,
                ..
            } => {
                seats_left_now(&mut changes, id, *seats_left);
                if let Some(seat) = seat {
                    let row = Taken {
                        booking_id: Some(booking_id.0),
                        hold_id: None,
                        owner_id: user_credentials.owner().map(|owner| owner.0),
                        expires_at: None,
                    };
                    taken.insert((id, seat.to_string()), Some(row));
                }
            }
            TrainEvent::BookingCancelled {
                seats_left,
                booking_id,
                ..
            } => {
                seats_left_now(&mut changes, id, *seats_left);
                // The event does not name the seat; the row of the booking is found by id.
                taken.retain(|_, row| {
                    row.as_ref()
                        .is_none_or(|row| row.booking_id != Some(booking_id.0))
                });
                cancelled_bookings.push(booking_id.0);
            }
            TrainEvent::SeatsHeld {
                seats_left,
                seats,
                hold_id,
                owner,
                expires_at,
                ..
            } => {
                seats_left_now(&mut changes, id, *seats_left);
                for seat in seats {
                    let row = Taken {
                        booking_id: None,
                        hold_id: Some(hold_id.to_string()),
                        owner_id: Some(owner.0),
                        expires_at: Some(*expires_at),
                    };
                    taken.insert((id, seat.to_string()), Some(row));
                }
            }
            TrainEvent::HoldReleased {
                seats_left, seats, ..
            }
            | TrainEvent::HoldExpired {
                seats_left, seats, ..
            } => {
                seats_left_now(&mut changes, id, *seats_left);
                free(seats, id, &mut taken);
            }
            TrainEvent::TrainRemoved { .. } => {
                changes.insert(id, Change::Delete);
                taken.retain(|(train, _), _| *train != id);
                removed_trains.push(id);
            }
            TrainEvent::HoldExtended {
                hold_id,
                expires_at,
                ..
            } => {
                // Seats held earlier in this batch are not in the table yet.
                for row in taken.values_mut().flatten() {
                    if row.hold_id.as_deref() == Some(hold_id.as_str()) {
                        row.expires_at = Some(*expires_at);
                    }
                }
                extended.push((id, hold_id.to_string(), *expires_at));
            }
            // The hold's seats are booked by the `SeatBooked`s that follow.
            TrainEvent::OrderTicketsBooked { .. }
            | TrainEvent::BookingHolderChanged { .. }
            | TrainEvent::HoldExtensionRefused { .. }
            | TrainEvent::TicketsRefused { .. }
            | TrainEvent::TicketsRescheduled { .. } => {}
        }
    }
    write_taken(tx, schema, taken, &cancelled_bookings, &removed_trains).await?;
    if !extended.is_empty() {
        let (trains, holds, until): (Vec<i64>, Vec<String>, Vec<DateTime<Utc>>) =
            columns3(extended);
        sqlx::query(&format!(
            "UPDATE {schema}.seats_taken s SET expires_at = e.until
             FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS e(train_id, hold_id, until)
             WHERE s.train_id = e.train_id AND s.hold_id = e.hold_id"
        ))
        .bind(&trains)
        .bind(&holds)
        .bind(&until)
        .execute(&mut *tx)
        .await?;
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
            "INSERT INTO {schema}.trains AS t (id, route, departure_time, arrival_time, capacity, available_seats, layout, tariff)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamp[], $4::timestamp[], $5::int[], $6::int[], $7::jsonb[], $8::jsonb[])
             ON CONFLICT (id) DO UPDATE SET route = excluded.route, departure_time = excluded.departure_time,
                 arrival_time = excluded.arrival_time, capacity = excluded.capacity,
                 available_seats = excluded.available_seats,
                 layout = coalesce(excluded.layout, t.layout), tariff = coalesce(excluded.tariff, t.tariff)",
        ))
        .bind(&upserts.ids)
        .bind(&upserts.routes)
        .bind(&upserts.departures)
        .bind(&upserts.arrivals)
        .bind(&upserts.capacities)
        .bind(&upserts.available)
        .bind(&upserts.layouts)
        .bind(&upserts.tariffs)
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
    layouts: Vec<Option<serde_json::Value>>,
    tariffs: Vec<Option<serde_json::Value>>,
}

impl Upserts {
    fn push(&mut self, id: i64, row: Row) {
        self.ids.push(id);
        self.routes.push(row.details.route.to_string());
        self.departures.push(row.details.departure_time.naive());
        self.arrivals.push(row.details.arrival_time.naive());
        self.capacities.push(row.capacity);
        self.available.push(row.available_seats);
        self.layouts.push(row.layout);
        self.tariffs.push(row.tariff);
    }
}

/// Notes the seats left after an event, on whatever change the batch has for the train.
fn seats_left_now(changes: &mut BTreeMap<i64, Change>, id: i64, seats_left: u32) {
    let left = seats(seats_left);
    match changes.entry(id).or_insert(Change::Seats(left)) {
        Change::Upsert(row) => row.available_seats = left,
        Change::Seats(current) => *current = left,
        Change::Delete => {}
    }
}

/// Writes the batch's seat changes: the rows of cancelled bookings and removed trains go, then
/// each seat's last state in the batch is written (deleted when free).
async fn write_taken(
    tx: &mut PgConnection,
    schema: &str,
    taken: BTreeMap<(i64, String), Option<Taken>>,
    cancelled_bookings: &[i64],
    removed_trains: &[i64],
) -> Result<(), sqlx::Error> {
    if !cancelled_bookings.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {schema}.seats_taken WHERE booking_id = ANY($1)"
        ))
        .bind(cancelled_bookings)
        .execute(&mut *tx)
        .await?;
    }
    if !removed_trains.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {schema}.seats_taken WHERE train_id = ANY($1)"
        ))
        .bind(removed_trains)
        .execute(&mut *tx)
        .await?;
    }
    let (mut freed_trains, mut freed_seats) = (Vec::new(), Vec::new());
    let mut rows = TakenRows::default();
    for ((train_id, seat), row) in taken {
        match row {
            None => {
                freed_trains.push(train_id);
                freed_seats.push(seat);
            }
            Some(row) => rows.push(train_id, seat, row),
        }
    }
    if !freed_trains.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {schema}.seats_taken s USING unnest($1::bigint[], $2::text[]) AS f(train_id, seat)
             WHERE s.train_id = f.train_id AND s.seat = f.seat"
        ))
        .bind(&freed_trains)
        .bind(&freed_seats)
        .execute(&mut *tx)
        .await?;
    }
    if !rows.trains.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {schema}.seats_taken (train_id, seat, booking_id, hold_id, owner_id, expires_at)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::timestamptz[])
             ON CONFLICT (train_id, seat) DO UPDATE SET booking_id = excluded.booking_id,
                 hold_id = excluded.hold_id, owner_id = excluded.owner_id, expires_at = excluded.expires_at"
        ))
        .bind(&rows.trains)
        .bind(&rows.seats)
        .bind(&rows.bookings)
        .bind(&rows.holds)
        .bind(&rows.owners)
        .bind(&rows.expiries)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Column arrays for one multi-row upsert of taken seats.
#[derive(Default)]
struct TakenRows {
    trains: Vec<i64>,
    seats: Vec<String>,
    bookings: Vec<Option<i64>>,
    holds: Vec<Option<String>>,
    owners: Vec<Option<i64>>,
    expiries: Vec<Option<DateTime<Utc>>>,
}

impl TakenRows {
    fn push(&mut self, train_id: i64, seat: String, row: Taken) {
        self.trains.push(train_id);
        self.seats.push(seat);
        self.bookings.push(row.booking_id);
        self.holds.push(row.hold_id);
        self.owners.push(row.owner_id);
        self.expiries.push(row.expires_at);
    }
}

/// Three columns from rows of three, for `unnest`.
fn columns3<A, B, C>(rows: Vec<(A, B, C)>) -> (Vec<A>, Vec<B>, Vec<C>) {
    let mut columns = (Vec::new(), Vec::new(), Vec::new());
    for (a, b, c) in rows {
        columns.0.push(a);
        columns.1.push(b);
        columns.2.push(c);
    }
    columns
}
