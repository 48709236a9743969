//! The train aggregate: a train's details, its seats and its bookings.
//!
//! One stream per train is the consistency boundary for seats: booking, cancelling and changing
//! seats are all decided here against one expected revision, so two concurrent bookings can
//! never both take the last seat.

use crate::{BookingId, Decider, Route, SeatCount, TrainId, TravelTime};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The train decider.
pub struct Train;

/// A train's details as a whole, as they stand after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainDetails {
    pub route: Route,
    pub departure_time: TravelTime,
    pub arrival_time: TravelTime,
}

/// A partial update; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainUpdate {
    pub route: Option<Route>,
    pub departure_time: Option<TravelTime>,
    pub arrival_time: Option<TravelTime>,
    /// Seats still free after the update; the capacity moves with it.
    pub available_seats: Option<SeatCount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainCommand {
    Register {
        train_id: TrainId,
        details: TrainDetails,
        seats: SeatCount,
        at: DateTime<Utc>,
    },
    Update {
        update: TrainUpdate,
        at: DateTime<Utc>,
    },
    Remove {
        at: DateTime<Utc>,
    },
    BookSeat {
        booking_id: BookingId,
        user_credentials: String,
        at: DateTime<Utc>,
    },
    ChangeBookingHolder {
        booking_id: BookingId,
        user_credentials: String,
        at: DateTime<Utc>,
    },
    CancelBooking {
        booking_id: BookingId,
        at: DateTime<Utc>,
    },
}

/// Why a booking ended without being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingCancelReason {
    /// The traveller (or an operator) cancelled it.
    Requested,
    /// The train was removed from the schedule.
    TrainRemoved,
}

/// What happened to a train. Stored forever: names and fields are a contract with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TrainEvent {
    TrainRegistered {
        train_id: TrainId,
        #[serde(flatten)]
        details: TrainDetails,
        /// Seats on offer; all free at registration.
        capacity: u32,
        registered_at: DateTime<Utc>,
    },
    /// Details or seats changed; carries the whole state after the change so projections
    /// never need to merge.
    TrainDetailsChanged {
        train_id: TrainId,
        #[serde(flatten)]
        details: TrainDetails,
        capacity: u32,
        seats_left: u32,
        changed_at: DateTime<Utc>,
    },
    /// Schema v2 added `seat_count`; v1 bookings, read through the upcaster, hold one seat.
    SeatBooked {
        train_id: TrainId,
        booking_id: BookingId,
        user_credentials: String,
        /// Seats this booking holds: always 1 until multi-seat bookings arrive.
        seat_count: u32,
        seats_left: u32,
        booked_at: DateTime<Utc>,
    },
    BookingHolderChanged {
        train_id: TrainId,
        booking_id: BookingId,
        user_credentials: String,
        changed_at: DateTime<Utc>,
    },
    BookingCancelled {
        train_id: TrainId,
        booking_id: BookingId,
        reason: BookingCancelReason,
        seats_left: u32,
        cancelled_at: DateTime<Utc>,
    },
    /// Follows the cancellation of every active booking of the train.
    TrainRemoved {
        train_id: TrainId,
        removed_at: DateTime<Utc>,
    },
}

impl TrainEvent {
    pub fn train_id(&self) -> TrainId {
        match self {
            Self::TrainRegistered { train_id, .. }
            | Self::TrainDetailsChanged { train_id, .. }
            | Self::SeatBooked { train_id, .. }
            | Self::BookingHolderChanged { train_id, .. }
            | Self::BookingCancelled { train_id, .. }
            | Self::TrainRemoved { train_id, .. } => *train_id,
        }
    }
}

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
}

/// A booking that still holds a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveBooking {
    pub user_credentials: String,
}

/// A train that is on the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveTrain {
    pub train_id: TrainId,
    pub details: TrainDetails,
    pub capacity: u32,
    pub bookings: BTreeMap<BookingId, ActiveBooking>,
    /// Who holds an active booking, for the one-booking-per-user rule.
    pub holders: HashMap<String, BookingId>,
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
            self.holders.remove(&booking.user_credentials);
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

fn check_times(details: &TrainDetails) -> Result<(), TrainError> {
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
                    train.holders.insert(user_credentials.clone(), *booking_id);
                    train.bookings.insert(
                        *booking_id,
                        ActiveBooking {
                            user_credentials: user_credentials.clone(),
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
                        train.holders.remove(&booking.user_credentials);
                        booking.user_credentials.clone_from(user_credentials);
                        train.holders.insert(user_credentials.clone(), *booking_id);
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
            let user_credentials = self::user_credentials(&user_credentials)?;
            if train.holders.contains_key(&user_credentials) {
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
            let user_credentials = self::user_credentials(&user_credentials)?;
            let booking = train
                .bookings
                .get(&booking_id)
                .ok_or(TrainError::BookingNotFound)?;
            if booking.user_credentials == user_credentials {
                return Ok(vec![]);
            }
            if train.holders.contains_key(&user_credentials) {
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
            Ok(vec![TrainEvent::BookingCancelled {
                train_id: train.train_id,
                booking_id,
                reason: BookingCancelReason::Requested,
                seats_left: train.seats_left() + 1,
                cancelled_at: at,
            }])
        }
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
