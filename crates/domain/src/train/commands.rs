//! What callers ask of a train: the commands and the detail types they carry.
//!
//! Kept apart from the events because commands may change with the API, while events are a
//! contract with the stored log. The exception is [`TrainDetails`]: events flatten it into
//! their payload, so its field names are part of that contract too.

use super::{HoldId, SeatRequest, Traveller};
use crate::{
    BookingId, Currency, Layout, OrderId, Route, SeatCount, Tariff, Ticket, TrainId, TravelTime,
    UserId,
};
use chrono::{DateTime, TimeDelta, Utc};
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
        /// The stations in order; empty means the route's parts.
        stops: Vec<String>,
        /// The coaches, which must hold exactly `seats` seats; `None` is one second-class
        /// coach of `seats` seats.
        layout: Option<Layout>,
        tariff: Tariff,
        at: DateTime<Utc>,
    },
    Update {
        update: TrainUpdate,
        at: DateTime<Utc>,
    },
    Remove {
        at: DateTime<Utc>,
    },
    /// A booking of the best free seat of the cheapest class with a seat free, without a
    /// hold. On a priced train only an operator may book so, at the price of the moment and
    /// without payment; travellers hold seats and pay for them.
    BookSeat {
        booking_id: BookingId,
        user_credentials: Traveller,
        operator: bool,
        at: DateTime<Utc>,
    },
    /// Sets seats aside for `owner` until `at + ttl`, priced now. Refused beyond
    /// `max_holds` live holds of the owner on this train.
    HoldSeats {
        hold_id: HoldId,
        owner: UserId,
        request: SeatRequest,
        ttl: TimeDelta,
        max_holds: u32,
        at: DateTime<Utc>,
    },
    /// Lets a live hold's seats go.
    ReleaseHold {
        hold_id: HoldId,
        at: DateTime<Utc>,
    },
    /// Records the end of every hold past its time at `at`; nothing when there is none, so
    /// the expiry timer may repeat it freely.
    ExpireHolds {
        at: DateTime<Utc>,
    },
    /// Keeps a live hold of `owner` for `order_id` until `until`. Records a refusal (which the
    /// order hears of) when the hold has ended or is not the owner's: never an error.
    ExtendHold {
        hold_id: HoldId,
        owner: UserId,
        order_id: OrderId,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The order paid at `at` for the seats of `hold_id`: each ticket becomes a booking. A
    /// hold that has ended meanwhile has its seats taken again if they are free; otherwise
    /// the refusal is recorded. Never an error.
    IssueTickets {
        order_id: OrderId,
        hold_id: HoldId,
        tickets: Vec<Ticket>,
        currency: Currency,
        at: DateTime<Utc>,
    },
    /// Gives back the seats of these tickets of `order_id`; those already gone are skipped.
    CancelOrderTickets {
        order_id: OrderId,
        ticket_ids: Vec<BookingId>,
        at: DateTime<Utc>,
    },
    /// Lets go of a live hold kept for `order_id`; nothing if it has ended.
    ReleaseOrderHold {
        order_id: OrderId,
        hold_id: HoldId,
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
