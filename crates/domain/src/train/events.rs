//! What happened to a train: the events of its stream.
//!
//! Stored forever, so this file changes only by adding: a new field gets `#[serde(default)]`,
//! a breaking change becomes a new version with an upcaster.

use super::{TrainDetails, Traveller};
use crate::{BookingId, TrainId};
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
        /// The traveller: a name in the clear, or an account's sealed name (see [`Traveller`]).
        user_credentials: Traveller,
        /// Seats this booking holds: always 1 until multi-seat bookings arrive.
        seat_count: u32,
        seats_left: u32,
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

impl crate::EventFamily for TrainEvent {
    const TYPES: &'static [(&'static str, u32)] = &[
        ("TrainRegistered", 1),
        ("TrainDetailsChanged", 1),
        ("SeatBooked", 2),
        ("BookingHolderChanged", 1),
        ("BookingCancelled", 1),
        ("TrainRemoved", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::TrainRegistered { .. } => "TrainRegistered",
            Self::TrainDetailsChanged { .. } => "TrainDetailsChanged",
            Self::SeatBooked { .. } => "SeatBooked",
            Self::BookingHolderChanged { .. } => "BookingHolderChanged",
            Self::BookingCancelled { .. } => "BookingCancelled",
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
