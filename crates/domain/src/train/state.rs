//! A train stream's state, and how each recorded event folds into it.
//!
//! `evolve` lives beside the state it builds rather than with the rules in `decide`: it never
//! refuses anything, it only replays facts.

use super::{Hold, HoldId, Holder, TrainDetails, TrainEvent, Traveller};
use crate::{BookingId, Layout, OrderId, SeatId, Tariff, TrainId};
use std::collections::{BTreeMap, HashMap};

/// A booking that still holds a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBooking {
    pub traveller: Traveller,
    /// Its seat; `None` for a booking made before seats existed, which takes a place on the
    /// train but no particular seat.
    pub seat: Option<SeatId>,
    /// The order it is a ticket of, if any.
    pub order: Option<OrderId>,
}

/// What keeps a seat from being free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatUse {
    Booked(BookingId),
    Held(HoldId),
}

/// A train that is on the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveTrain {
    pub train_id: TrainId,
    pub details: TrainDetails,
    pub layout: Layout,
    pub tariff: Tariff,
    pub bookings: BTreeMap<BookingId, ActiveBooking>,
    /// Who holds an active booking, for the one-booking-per-traveller rule.
    pub holders: HashMap<Holder, BookingId>,
    /// Live holds as recorded; one past its time still appears here until its expiry is.
    pub holds: BTreeMap<HoldId, Hold>,
    /// Every seat a booking or a recorded-live hold takes.
    pub seats: HashMap<SeatId, SeatUse>,
}

impl ActiveTrain {
    pub fn capacity(&self) -> u32 {
        self.layout.capacity()
    }

    /// Seats neither booked nor held, as recorded.
    pub fn seats_left(&self) -> u32 {
        self.capacity().saturating_sub(self.taken())
    }

    /// Seats booked or held, as recorded, including places of bookings without a seat.
    pub fn taken(&self) -> u32 {
        let held: usize = self.holds.values().map(|hold| hold.seats.len()).sum();
        u32::try_from(self.bookings.len() + held).unwrap_or(u32::MAX)
    }

    pub fn booked(&self) -> u32 {
        u32::try_from(self.bookings.len()).unwrap_or(u32::MAX)
    }

    /// The train has left at `at` (its departure read as UTC).
    pub fn departed(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.details.departure_time.naive() <= at.naive_utc()
    }

    /// Neither booked nor held by a hold still recorded live.
    pub fn is_free(&self, seat: &SeatId) -> bool {
        !self.seats.contains_key(seat)
    }

    fn release(&mut self, booking_id: BookingId) {
        if let Some(booking) = self.bookings.remove(&booking_id) {
            let holder = booking.traveller.holder();
            if self.holders.get(&holder) == Some(&booking_id) {
                self.holders.remove(&holder);
            }
            if let Some(seat) = booking.seat {
                self.seats.remove(&seat);
            }
        }
    }

    pub(super) fn end_hold(&mut self, hold_id: &HoldId) {
        if let Some(hold) = self.holds.remove(hold_id) {
            for seat in hold.seats {
                self.seats.remove(&seat);
            }
        }
    }
}

/// The lifecycle of a train stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a stream holds one state, and the unregistered and removed phases are brief or final; boxing would cost an allocation per stream for nothing"
)]
pub enum TrainState {
    #[default]
    Unregistered,
    Active(ActiveTrain),
    Removed,
}

/// Folds one recorded event into the state; the body of [`Decider::evolve`](crate::Decider::evolve)
/// for [`Train`](super::Train).
pub(super) fn evolve(state: TrainState, event: &TrainEvent) -> TrainState {
    match (state, event) {
        (
            TrainState::Unregistered,
            TrainEvent::TrainRegistered {
                train_id,
                details,
                capacity,
                layout,
                tariff,
                ..
            },
        ) => TrainState::Active(ActiveTrain {
            train_id: *train_id,
            details: details.clone(),
            layout: layout.clone().unwrap_or_else(|| Layout::single(*capacity)),
            tariff: tariff.clone().unwrap_or_else(Tariff::free),
            bookings: BTreeMap::new(),
            holders: HashMap::new(),
            holds: BTreeMap::new(),
            seats: HashMap::new(),
        }),
        (TrainState::Active(mut train), event) => match event {
            TrainEvent::TrainDetailsChanged {
                details,
                capacity,
                layout,
                ..
            } => {
                train.details = details.clone();
                train.layout = match layout {
                    Some(layout) => layout.clone(),
                    None => train.layout.resized(*capacity).0,
                };
                TrainState::Active(train)
            }
            TrainEvent::SeatBooked {
                booking_id,
                user_credentials,
                seat,
                order_id,
                ..
            } => {
                // An order's tickets are not bound by one booking per traveller.
                if order_id.is_none() {
                    train.holders.insert(user_credentials.holder(), *booking_id);
                }
                if let Some(seat) = seat {
                    train
                        .seats
                        .insert(seat.clone(), SeatUse::Booked(*booking_id));
                }
                train.bookings.insert(
                    *booking_id,
                    ActiveBooking {
                        traveller: user_credentials.clone(),
                        seat: seat.clone(),
                        order: order_id.clone(),
                    },
                );
                TrainState::Active(train)
            }
            TrainEvent::SeatsHeld {
                hold_id,
                owner,
                seats,
                quote,
                expires_at,
                ..
            } => {
                for seat in seats {
                    train
                        .seats
                        .insert(seat.clone(), SeatUse::Held(hold_id.clone()));
                }
                train.holds.insert(
                    hold_id.clone(),
                    Hold {
                        owner: *owner,
                        seats: seats.clone(),
                        quote: quote.clone(),
                        expires_at: *expires_at,
                        order: None,
                    },
                );
                TrainState::Active(train)
            }
            TrainEvent::HoldReleased { hold_id, .. }
            | TrainEvent::HoldExpired { hold_id, .. }
            | TrainEvent::OrderTicketsBooked { hold_id, .. } => {
                train.end_hold(hold_id);
                TrainState::Active(train)
            }
            TrainEvent::HoldExtended {
                hold_id,
                order_id,
                expires_at,
                ..
            } => {
                if let Some(hold) = train.holds.get_mut(hold_id) {
                    hold.order = Some(order_id.clone());
                    hold.expires_at = *expires_at;
                }
                TrainState::Active(train)
            }
            TrainEvent::HoldExtensionRefused { .. }
            | TrainEvent::TicketsRefused { .. }
            | TrainEvent::TicketsRescheduled { .. } => TrainState::Active(train),
            TrainEvent::BookingHolderChanged {
                booking_id,
                user_credentials,
                ..
            } => {
                if let Some(booking) = train.bookings.get_mut(booking_id) {
                    // A ticket's traveller may hold a booking of their own: only the slot this
                    // booking takes moves, and a ticket takes none.
                    let old = booking.traveller.holder();
                    if train.holders.get(&old) == Some(booking_id) {
                        train.holders.remove(&old);
                    }
                    booking.traveller.clone_from(user_credentials);
                    if booking.order.is_none() {
                        train.holders.insert(user_credentials.holder(), *booking_id);
                    }
                }
                TrainState::Active(train)
            }
            TrainEvent::BookingCancelled { booking_id, .. } => {
                train.release(*booking_id);
                TrainState::Active(train)
            }
            TrainEvent::TrainRemoved { .. } => TrainState::Removed,
            TrainEvent::TrainRegistered { .. } => TrainState::Active(train),
        },
        // Events that cannot follow the current phase are ignored: history is never refused.
        (state, _) => state,
    }
}
