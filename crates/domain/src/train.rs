//! The train aggregate: a train's details, its seats and its bookings.
//!
//! One stream per train is the consistency boundary for seats: booking, cancelling and changing
//! seats are all decided here against one expected revision, so two concurrent bookings can
//! never both take the last seat.
//!
//! Split by role, so each part can be read and changed alone: `commands` (what callers ask),
//! `events` (what is stored), `state` (what the events fold into) and `decide` (the rules).

mod commands;
mod decide;
mod events;
mod holds;
mod state;
mod traveller;

pub use commands::{TrainCommand, TrainDetails, TrainUpdate};
pub use decide::{Train, TrainError, user_credentials};
pub use events::{BookingCancelReason, TrainEvent};
pub use holds::{BadHoldId, Hold, HoldId, HoldReleaseReason, MAX_SEATS_PER_HOLD, SeatRequest};
pub use state::{ActiveBooking, ActiveTrain, SeatUse, TrainState};
pub use traveller::{Holder, Traveller};
