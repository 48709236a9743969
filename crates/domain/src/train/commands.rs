//! What callers ask of a train: the commands and the detail types they carry.
//!
//! Kept apart from the events because commands may change with the API, while events are a
//! contract with the stored log. The exception is [`TrainDetails`]: events flatten it into
//! their payload, so its field names are part of that contract too.

use super::Traveller;
use crate::{BookingId, Route, SeatCount, TrainId, TravelTime, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
        user_credentials: Traveller,
        at: DateTime<Utc>,
    },
    /// A new traveller for a booking; an account's booking keeps its owner.
    ChangeBookingHolder {
        booking_id: BookingId,
        user_credentials: Traveller,
        at: DateTime<Utc>,
    },
    CancelBooking {
        booking_id: BookingId,
        at: DateTime<Utc>,
    },
    /// `owner`'s account was erased at `at`: their booking is cancelled if the train has not
    /// left yet. A booking that is gone, another owner's, or on a train that has left (it
    /// stays counted, its traveller unreadable) records nothing, so a repeat is harmless.
    CancelErasedOwnersBooking {
        booking_id: BookingId,
        owner: UserId,
        at: DateTime<Utc>,
    },
}
