//! What happened to a train: the events of its stream.
//!
//! Stored forever, so this file changes only by adding: a new field gets `#[serde(default)]`,
//! a breaking change becomes a new version with an upcaster.

use super::{HoldId, HoldReleaseReason, TrainDetails, Traveller};
use crate::{
    BookingId, Layout, Money, OrderId, Quote, SeatClass, SeatId, Tariff, TrainId, TravelTime,
    UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a booking ended without being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingCancelReason {
    /// The traveller (or an operator) cancelled it.
    Requested,
    /// The train was removed from the schedule.
    TrainRemoved,
    /// Its owner's account was erased before the train left.
    OwnerErased,
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
        /// The stations in order; absent, they are the route's parts between its dashes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stops: Vec<String>,
        /// The coaches; absent (trains registered before seats existed), one second-class
        /// coach `"1"` of `capacity` seats.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layout: Option<Layout>,
        /// How seats are priced; absent (trains registered before prices existed), free.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tariff: Option<Tariff>,
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
        /// The coaches after the change; absent in changes recorded before seats existed,
        /// which resized the one coach to `capacity`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layout: Option<Layout>,
        changed_at: DateTime<Utc>,
    },
    /// Schema v2 added `seat_count`; v1 bookings, read through the upcaster, hold one seat.
    SeatBooked {
        train_id: TrainId,
        booking_id: BookingId,
        /// The traveller: a name in the clear, or an account's sealed name (see [`Traveller`]).
        user_credentials: Traveller,
        /// Seats this booking holds: always 1 until multi-seat bookings arrive.
        seat_count: u32,
        seats_left: u32,
        /// The seat; absent for bookings made before seats existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seat: Option<SeatId>,
        /// The seat's class, so readers need no layout to tell it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<SeatClass>,
        /// What the booking cost; absent for bookings made before prices existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price: Option<Money>,
        /// The order it is a ticket of; absent for a booking made without one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_id: Option<OrderId>,
        booked_at: DateTime<Utc>,
    },
    BookingHolderChanged {
        train_id: TrainId,
        booking_id: BookingId,
        user_credentials: Traveller,
        changed_at: DateTime<Utc>,
    },
    BookingCancelled {
        train_id: TrainId,
        booking_id: BookingId,
        reason: BookingCancelReason,
        seats_left: u32,
        /// The order it was a ticket of, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_id: Option<OrderId>,
        cancelled_at: DateTime<Utc>,
    },
    /// Seats set aside for `owner` until `expires_at`, at the price quoted when they were
    /// taken. `seats_left` counts them as taken.
    SeatsHeld {
        train_id: TrainId,
        hold_id: HoldId,
        owner: UserId,
        seats: Vec<SeatId>,
        quote: Quote,
        expires_at: DateTime<Utc>,
        seats_left: u32,
        held_at: DateTime<Utc>,
    },
    /// A hold let go before its time: its seats are free again.
    HoldReleased {
        train_id: TrainId,
        hold_id: HoldId,
        seats: Vec<SeatId>,
        reason: HoldReleaseReason,
        seats_left: u32,
        released_at: DateTime<Utc>,
    },
    /// A hold whose time was up: its seats are free again. Recorded by the expiry timer, or
    /// before any command that finds the hold past its time.
    HoldExpired {
        train_id: TrainId,
        hold_id: HoldId,
        seats: Vec<SeatId>,
        seats_left: u32,
        expired_at: DateTime<Utc>,
    },
    /// A hold now waits for its order's payment, until `expires_at`.
    HoldExtended {
        train_id: TrainId,
        hold_id: HoldId,
        order_id: OrderId,
        expires_at: DateTime<Utc>,
        extended_at: DateTime<Utc>,
    },
    /// A hold could not wait for an order: it had ended, or was not the order owner's.
    HoldExtensionRefused {
        train_id: TrainId,
        hold_id: HoldId,
        order_id: OrderId,
        refused_at: DateTime<Utc>,
    },
    /// An order paid for a hold's seats: the hold ends, and a `SeatBooked` for each ticket
    /// follows in the same append. `hold_live` is false when the hold had ended and its seats,
    /// still free, were taken again.
    OrderTicketsBooked {
        train_id: TrainId,
        hold_id: HoldId,
        order_id: OrderId,
        ticket_ids: Vec<BookingId>,
        seats: Vec<SeatId>,
        hold_live: bool,
        issued_at: DateTime<Utc>,
    },
    /// An order paid for a hold whose seats are gone (`taken` names those booked or held by
    /// others since), or for a train that has left: no ticket is issued.
    TicketsRefused {
        train_id: TrainId,
        hold_id: HoldId,
        order_id: OrderId,
        taken: Vec<SeatId>,
        refused_at: DateTime<Utc>,
    },
    /// Follows a change of departure or arrival, once per order with tickets on the train.
    TicketsRescheduled {
        train_id: TrainId,
        order_id: OrderId,
        departure: TravelTime,
        arrival: TravelTime,
        rescheduled_at: DateTime<Utc>,
    },
    /// Follows the cancellation of every active booking and the release of every hold.
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
            | Self::SeatsHeld { train_id, .. }
            | Self::HoldReleased { train_id, .. }
            | Self::HoldExpired { train_id, .. }
            | Self::HoldExtended { train_id, .. }
            | Self::HoldExtensionRefused { train_id, .. }
            | Self::OrderTicketsBooked { train_id, .. }
            | Self::TicketsRefused { train_id, .. }
            | Self::TicketsRescheduled { train_id, .. }
            | Self::TrainRemoved { train_id, .. } => *train_id,
        }
    }
}

impl crate::EventFamily for TrainEvent {
    const TYPES: &'static [(&'static str, u32)] = &[
        ("TrainRegistered", 1),
        ("TrainDetailsChanged", 1),
        ("SeatBooked", 2),
        ("BookingHolderChanged", 1),
        ("BookingCancelled", 1),
        ("SeatsHeld", 1),
        ("HoldReleased", 1),
        ("HoldExpired", 1),
        ("HoldExtended", 1),
        ("HoldExtensionRefused", 1),
        ("OrderTicketsBooked", 1),
        ("TicketsRefused", 1),
        ("TicketsRescheduled", 1),
        ("TrainRemoved", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::TrainRegistered { .. } => "TrainRegistered",
            Self::TrainDetailsChanged { .. } => "TrainDetailsChanged",
            Self::SeatBooked { .. } => "SeatBooked",
            Self::BookingHolderChanged { .. } => "BookingHolderChanged",
            Self::BookingCancelled { .. } => "BookingCancelled",
            Self::SeatsHeld { .. } => "SeatsHeld",
            Self::HoldReleased { .. } => "HoldReleased",
            Self::HoldExpired { .. } => "HoldExpired",
            Self::HoldExtended { .. } => "HoldExtended",
            Self::HoldExtensionRefused { .. } => "HoldExtensionRefused",
            Self::OrderTicketsBooked { .. } => "OrderTicketsBooked",
            Self::TicketsRefused { .. } => "TicketsRefused",
            Self::TicketsRescheduled { .. } => "TicketsRescheduled",
            Self::TrainRemoved { .. } => "TrainRemoved",
        }
    }

    fn upcast(event_type: &str, version: u32, data: &mut serde_json::Value) {
        if let ("SeatBooked", 1, serde_json::Value::Object(fields)) = (event_type, version, data) {
            // v1 bookings were always for one seat.
            fields.entry("seat_count").or_insert(serde_json::json!(1));
        }
    }
}
