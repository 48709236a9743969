//! The train decider: every business rule about a train, and the refusals they give.
//!
//! Rules read the state and the command and answer with events or a [`TrainError`]; nothing here
//! changes state, which is `evolve`'s job in `state`.

use super::{
    ActiveTrain, BookingCancelReason, TrainCommand, TrainDetails, TrainEvent, TrainState,
    TrainUpdate, Traveller, state,
};
use crate::{BookingId, Decider, SeatCount};
use chrono::{DateTime, Utc};

/// The train decider.
pub struct Train;

/// A business refusal. Never wraps infrastructure errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("Train not found")]
    TrainNotFound,
    #[error("Train already exists")]
    TrainAlreadyExists,
    #[error("Booking not found")]
    BookingNotFound,
    #[error("Departure time must be before arrival time")]
    DepartureNotBeforeArrival,
    #[error("time must be between 2000-01-01T00:00 and 2099-12-31T23:59")]
    TravelTimeOutOfRange { field: &'static str },
    #[error("No seats left")]
    NoSeatsLeft,
    #[error("User already has a booking for this train")]
    DuplicateBooking,
    #[error("user_credentials must be between 1 and {max} characters")]
    InvalidUserCredentials { max: usize },
    #[error("Booking id is already taken")]
    BookingIdTaken,
    #[error("Booked seats exceed the maximum capacity")]
    CapacityExceeded,
    /// A new traveller of another account (or of none) for an account's booking.
    #[error("A booking keeps its owner")]
    OwnerChange,
}

/// Longest user credential we store.
pub const MAX_USER_CREDENTIALS: usize = 100;

/// Trims and bounds a traveller's credentials (1 to 100 characters).
pub fn user_credentials(raw: &str) -> Result<String, TrainError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_USER_CREDENTIALS {
        return Err(TrainError::InvalidUserCredentials {
            max: MAX_USER_CREDENTIALS,
        });
    }
    Ok(trimmed.to_owned())
}

/// A named traveller's name bounded as [`user_credentials`]; an account's sealed name was
/// bounded before it was sealed.
fn traveller(traveller: Traveller) -> Result<Traveller, TrainError> {
    match traveller {
        Traveller::Named(name) => Ok(Traveller::Named(user_credentials(&name)?)),
        owned @ Traveller::Owned { .. } => Ok(owned),
    }
}

fn check_times(details: &TrainDetails) -> Result<(), TrainError> {
    for (field, time) in [
        ("departure_time", details.departure_time),
        ("arrival_time", details.arrival_time),
    ] {
        if !time.in_range() {
            return Err(TrainError::TravelTimeOutOfRange { field });
        }
    }
    if details.departure_time < details.arrival_time {
        Ok(())
    } else {
        Err(TrainError::DepartureNotBeforeArrival)
    }
}

impl Decider for Train {
    type State = TrainState;
    type Command = TrainCommand;
    type Event = TrainEvent;
    type Error = TrainError;

    fn decide(state: &TrainState, command: TrainCommand) -> Result<Vec<TrainEvent>, TrainError> {
        match (state, command) {
            (TrainState::Active(train), command) => decide_active(train, command),
            (
                TrainState::Unregistered,
                TrainCommand::Register {
                    train_id,
                    details,
                    seats,
                    at,
                },
            ) => {
                check_times(&details)?;
                Ok(vec![TrainEvent::TrainRegistered {
                    train_id,
                    details,
                    capacity: seats.get(),
                    registered_at: at,
                }])
            }
            // Ids are never reused, so a removed train cannot come back under its old id.
            (TrainState::Removed, TrainCommand::Register { .. }) => {
                Err(TrainError::TrainAlreadyExists)
            }
            (TrainState::Unregistered | TrainState::Removed, _) => Err(TrainError::TrainNotFound),
        }
    }

    fn evolve(state: TrainState, event: &TrainEvent) -> TrainState {
        state::evolve(state, event)
    }
}

fn decide_active(
    train: &ActiveTrain,
    command: TrainCommand,
) -> Result<Vec<TrainEvent>, TrainError> {
    match command {
        TrainCommand::Register { .. } => Err(TrainError::TrainAlreadyExists),
        TrainCommand::Update { update, at } => decide_update(train, update, at),
        TrainCommand::Remove { at } => {
            // Every active booking is cancelled first, so each seat's return is its own fact.
            let mut seats_left = train.seats_left();
            let mut events: Vec<TrainEvent> = train
                .bookings
                .keys()
                .map(|&booking_id| {
                    seats_left += 1;
                    TrainEvent::BookingCancelled {
                        train_id: train.train_id,
                        booking_id,
                        reason: BookingCancelReason::TrainRemoved,
                        seats_left,
                        cancelled_at: at,
                    }
                })
                .collect();
            events.push(TrainEvent::TrainRemoved {
                train_id: train.train_id,
                removed_at: at,
            });
            Ok(events)
        }
        TrainCommand::BookSeat {
            booking_id,
            user_credentials,
            at,
        } => {
            let user_credentials = traveller(user_credentials)?;
            if train.holders.contains_key(&user_credentials.holder()) {
                return Err(TrainError::DuplicateBooking);
            }
            // Ids are never reused; a clash means the caller's allocator is broken.
            if train.bookings.contains_key(&booking_id) {
                return Err(TrainError::BookingIdTaken);
            }
            let seats_left = train
                .seats_left()
                .checked_sub(1)
                .ok_or(TrainError::NoSeatsLeft)?;
            Ok(vec![TrainEvent::SeatBooked {
                train_id: train.train_id,
                booking_id,
                user_credentials,
                seat_count: 1,
                seats_left,
                booked_at: at,
            }])
        }
        TrainCommand::ChangeBookingHolder {
            booking_id,
            user_credentials,
            at,
        } => {
            let user_credentials = traveller(user_credentials)?;
            let booking = train
                .bookings
                .get(&booking_id)
                .ok_or(TrainError::BookingNotFound)?;
            if booking.traveller.owner() != user_credentials.owner() {
                return Err(TrainError::OwnerChange);
            }
            let holder = user_credentials.holder();
            if booking.traveller.holder() == holder {
                return Ok(vec![]);
            }
            if train.holders.contains_key(&holder) {
                return Err(TrainError::DuplicateBooking);
            }
            Ok(vec![TrainEvent::BookingHolderChanged {
                train_id: train.train_id,
                booking_id,
                user_credentials,
                changed_at: at,
            }])
        }
        TrainCommand::CancelBooking { booking_id, at } => {
            if !train.bookings.contains_key(&booking_id) {
                return Err(TrainError::BookingNotFound);
            }
            Ok(vec![cancelled(
                train,
                booking_id,
                BookingCancelReason::Requested,
                at,
            )])
        }
        TrainCommand::CancelErasedOwnersBooking {
            booking_id,
            owner,
            at,
        } => {
            let owned = train
                .bookings
                .get(&booking_id)
                .is_some_and(|booking| booking.traveller.owner() == Some(owner));
            // A train that has left keeps its bookings: they were used, and stay counted.
            let departed = train.details.departure_time.naive() <= at.naive_utc();
            if !owned || departed {
                return Ok(vec![]);
            }
            Ok(vec![cancelled(
                train,
                booking_id,
                BookingCancelReason::OwnerErased,
                at,
            )])
        }
    }
}

/// The cancellation of one active booking of `train`, which gives its seat back.
fn cancelled(
    train: &ActiveTrain,
    booking_id: BookingId,
    reason: BookingCancelReason,
    at: DateTime<Utc>,
) -> TrainEvent {
    TrainEvent::BookingCancelled {
        train_id: train.train_id,
        booking_id,
        reason,
        seats_left: train.seats_left() + 1,
        cancelled_at: at,
    }
}

fn decide_update(
    train: &ActiveTrain,
    update: TrainUpdate,
    at: DateTime<Utc>,
) -> Result<Vec<TrainEvent>, TrainError> {
    let details = TrainDetails {
        route: update.route.unwrap_or_else(|| train.details.route.clone()),
        departure_time: update
            .departure_time
            .unwrap_or(train.details.departure_time),
        arrival_time: update.arrival_time.unwrap_or(train.details.arrival_time),
    };
    check_times(&details)?;
    let seats_left = update
        .available_seats
        .map_or(train.seats_left(), SeatCount::get);
    let capacity = train.booked() + seats_left;
    if capacity > SeatCount::MAX {
        return Err(TrainError::CapacityExceeded);
    }
    if details == train.details && capacity == train.capacity {
        return Ok(vec![]);
    }
    Ok(vec![TrainEvent::TrainDetailsChanged {
        train_id: train.train_id,
        details,
        capacity,
        seats_left,
        changed_at: at,
    }])
}
