//! What a batch writes: its events folded into rows, one map per star-schema table, and the
//! order the writers run in.
//!
//! Separate from `load` (which decides which messages are fresh, and sets aside the ones that
//! cannot load) so that adding an event's facts touches this fold and its writer only.

use super::bookings::{self, Booked};
use super::cancellations::{self, Cancelled};
use super::hold_ends::{self, Ended};
use super::holds::{self, Held};
use super::seats_daily::{self, Seats};
use super::trains::{self, Version};
use super::{At, date_key, removals};
use chrono::{DateTime, Utc};
use domain::{
    BookingCancelReason, DomainEvent, HoldId, HoldReleaseReason, SeatClass, TrainDetails,
    TrainEvent,
};
use projector::feed::FeedMessage;
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// A batch folded into the rows it writes. Keyed maps keep one row per key (the newest by
/// position), since one upsert statement may not touch a row twice.
#[derive(Default)]
pub(super) struct Rows {
    versions: BTreeMap<(i64, At), Version>,
    removals: BTreeMap<i64, (DateTime<Utc>, At)>,
    bookings: BTreeMap<i64, (Booked, At)>,
    cancellations: BTreeMap<i64, (Cancelled, At)>,
    seats: BTreeMap<(i64, i32), (Seats, At)>,
    holds: BTreeMap<String, (Held, At)>,
    hold_ends: BTreeMap<String, (Ended, At)>,
}

fn keep_newest<K: Ord, V>(map: &mut BTreeMap<K, (V, At)>, key: K, value: V, at: At) {
    match map.get(&key) {
        Some((_, existing)) if *existing >= at => {}
        _ => {
            map.insert(key, (value, at));
        }
    }
}

fn seats(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A class as `fact_booking.seat_class` stores it.
fn class_name(class: SeatClass) -> &'static str {
    match class {
        SeatClass::First => "first",
        SeatClass::Second => "second",
    }
}

impl Rows {
    /// Folds one event in; events of no table (lobbies, holder changes) add nothing.
    pub(super) fn add(&mut self, message: &FeedMessage, event: &DomainEvent) {
        let at = At::of(message);
        let DomainEvent::Train(event) = event else {
            // Lobbies carry nothing the warehouse reports on (yet).
            return;
        };
        match event {
            TrainEvent::TrainRegistered {
                train_id,
                details,
                capacity,
                registered_at,
                ..
            } => {
                self.version(train_id.0, details, *capacity, *registered_at, at);
                let left = Seats {
                    capacity: Some(seats(*capacity)),
                    seats_left: seats(*capacity),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*registered_at)),
                    left,
                    at,
                );
            }
            TrainEvent::TrainDetailsChanged {
                train_id,
                details,
                capacity,
                seats_left,
                changed_at,
                ..
            } => {
                self.version(train_id.0, details, *capacity, *changed_at, at);
                let left = Seats {
                    capacity: Some(seats(*capacity)),
                    seats_left: seats(*seats_left),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*changed_at)),
                    left,
                    at,
                );
            }
            TrainEvent::SeatBooked {
                train_id,
                booking_id,
                seat_count,
                seats_left,
                class,
                price,
                booked_at,
                ..
            } => {
                let booked = Booked {
                    train_id: train_id.0,
                    seat_count: seats(*seat_count),
                    class: class.map(class_name),
                    price: price
                        .as_ref()
                        .map(|p| (p.amount, p.currency.as_str().to_owned())),
                    at: *booked_at,
                };
                keep_newest(&mut self.bookings, booking_id.0, booked, at);
                self.seats_left(train_id.0, *seats_left, *booked_at, at);
            }
            TrainEvent::BookingCancelled {
                train_id,
                booking_id,
                reason,
                seats_left,
                cancelled_at,
                ..
            } => {
                let cancelled = Cancelled {
                    train_id: train_id.0,
                    at: *cancelled_at,
                    reason: match reason {
                        BookingCancelReason::Requested => "requested",
                        BookingCancelReason::OwnerErased => "owner_erased",
                        BookingCancelReason::TrainRemoved => "train_removed",
                    },
                };
                keep_newest(&mut self.cancellations, booking_id.0, cancelled, at);
                self.seats_left(train_id.0, *seats_left, *cancelled_at, at);
            }
            TrainEvent::TrainRemoved {
                train_id,
                removed_at,
            } => keep_newest(&mut self.removals, train_id.0, *removed_at, at),
            // Who holds a booking is personal data; the warehouse does not keep it.
            TrainEvent::BookingHolderChanged { .. } => {}
            // The owner is left out: see `holds`.
            TrainEvent::SeatsHeld {
                train_id,
                hold_id,
                seats: held,
                quote,
                expires_at,
                seats_left,
                held_at,
                ..
            } => {
                let hold = Held {
                    train_id: train_id.0,
                    seat_count: i32::try_from(held.len()).unwrap_or(i32::MAX),
                    total: quote.total,
                    currency: quote.currency.as_str().to_owned(),
                    expires_at: *expires_at,
                    at: *held_at,
                };
                keep_newest(&mut self.holds, hold_id.as_str().to_owned(), hold, at);
                self.seats_left(train_id.0, *seats_left, *held_at, at);
            }
            TrainEvent::HoldReleased {
                train_id,
                hold_id,
                reason,
                seats_left,
                released_at,
                ..
            } => {
                let reason = match reason {
                    HoldReleaseReason::Released => "released",
                    HoldReleaseReason::TrainRemoved => "train_removed",
                };
                self.hold_ended(train_id.0, hold_id, reason, *released_at, at);
                self.seats_left(train_id.0, *seats_left, *released_at, at);
            }
            TrainEvent::HoldExpired {
                train_id,
                hold_id,
                seats_left,
                expired_at,
                ..
            } => {
                self.hold_ended(train_id.0, hold_id, "expired", *expired_at, at);
                self.seats_left(train_id.0, *seats_left, *expired_at, at);
            }
            // A hold its order paid for; its seats' count moves with the bookings that follow.
            TrainEvent::OrderTicketsBooked {
                train_id,
                hold_id,
                hold_live: true,
                issued_at,
                ..
            } => self.hold_ended(train_id.0, hold_id, "purchased", *issued_at, at),
            // Extensions, refusals and reschedules move no seat; orders are not in the
            // warehouse yet.
            TrainEvent::OrderTicketsBooked { .. }
            | TrainEvent::HoldExtended { .. }
            | TrainEvent::HoldExtensionRefused { .. }
            | TrainEvent::TicketsRefused { .. }
            | TrainEvent::TicketsRescheduled { .. } => {}
        }
    }

    /// Seats left after an event that does not change capacity. A held seat is not free, so
    /// holds move it as bookings and cancellations do.
    fn seats_left(&mut self, train_id: i64, seats_left: u32, when: DateTime<Utc>, at: At) {
        let left = Seats {
            capacity: None,
            seats_left: seats(seats_left),
        };
        keep_newest(&mut self.seats, (train_id, date_key(when)), left, at);
    }

    fn hold_ended(
        &mut self,
        train_id: i64,
        hold_id: &HoldId,
        reason: &'static str,
        when: DateTime<Utc>,
        at: At,
    ) {
        let ended = Ended {
            train_id,
            at: when,
            reason,
        };
        keep_newest(&mut self.hold_ends, hold_id.as_str().to_owned(), ended, at);
    }

    fn version(
        &mut self,
        train_id: i64,
        details: &TrainDetails,
        capacity: u32,
        valid_from: DateTime<Utc>,
        at: At,
    ) {
        let version = Version {
            route: details.route.as_str().to_owned(),
            departure: details.departure_time.naive(),
            arrival: details.arrival_time.naive(),
            capacity: seats(capacity),
            valid_from,
        };
        self.versions.insert((train_id, at), version);
    }

    /// Trains first (bookings and seats look their version up), then everything else.
    pub(super) async fn write(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        trains::write(tx, &self.versions).await?;
        bookings::write(tx, &self.bookings).await?;
        cancellations::write(tx, &self.cancellations).await?;
        seats_daily::write(tx, &self.seats).await?;
        holds::write(tx, &self.holds).await?;
        hold_ends::write(tx, &self.hold_ends).await?;
        removals::write(tx, &self.removals).await
    }
}
