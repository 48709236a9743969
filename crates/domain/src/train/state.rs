//! A train stream's state, and how each recorded event folds into it.
//!
//! `evolve` lives beside the state it builds rather than with the rules in `decide`: it never
//! refuses anything, it only replays facts.

use super::{Holder, TrainDetails, TrainEvent, Traveller};
use crate::{BookingId, TrainId};
use std::collections::{BTreeMap, HashMap};

/// A booking that still holds a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBooking {
    pub traveller: Traveller,
}

/// A train that is on the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveTrain {
    pub train_id: TrainId,
    pub details: TrainDetails,
    pub capacity: u32,
    pub bookings: BTreeMap<BookingId, ActiveBooking>,
    /// Who holds an active booking, for the one-booking-per-traveller rule.
    pub holders: HashMap<Holder, BookingId>,
}

impl ActiveTrain {
    pub fn seats_left(&self) -> u32 {
        self.capacity.saturating_sub(self.booked())
    }

    pub fn booked(&self) -> u32 {
        u32::try_from(self.bookings.len()).unwrap_or(u32::MAX)
    }

    fn release(&mut self, booking_id: BookingId) {
        if let Some(booking) = self.bookings.remove(&booking_id) {
            self.holders.remove(&booking.traveller.holder());
        }
    }
}

/// The lifecycle of a train stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
                ..
            },
        ) => TrainState::Active(ActiveTrain {
            train_id: *train_id,
            details: details.clone(),
            capacity: *capacity,
            bookings: BTreeMap::new(),
            holders: HashMap::new(),
        }),
        (TrainState::Active(mut train), event) => match event {
            TrainEvent::TrainDetailsChanged {
                details, capacity, ..
            } => {
                train.details = details.clone();
                train.capacity = *capacity;
                TrainState::Active(train)
            }
            TrainEvent::SeatBooked {
                booking_id,
                user_credentials,
                ..
            } => {
                train.holders.insert(user_credentials.holder(), *booking_id);
                train.bookings.insert(
                    *booking_id,
                    ActiveBooking {
                        traveller: user_credentials.clone(),
                    },
                );
                TrainState::Active(train)
            }
            TrainEvent::BookingHolderChanged {
                booking_id,
                user_credentials,
                ..
            } => {
                if let Some(booking) = train.bookings.get_mut(booking_id) {
                    train.holders.remove(&booking.traveller.holder());
                    booking.traveller.clone_from(user_credentials);
                    train.holders.insert(user_credentials.holder(), *booking_id);
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
