//! The booking domain: trains with their seats and bookings, lobbies, accounts, and orders.
//!
//! Everything here is pure and synchronous. Aggregates are [`Decider`]s: `decide` holds every
//! business rule and turns a command into events, `evolve` folds a recorded event into state.
//! Clocks and ids come from outside, inside the commands, so replaying history is deterministic.

mod decider;
mod event;
mod ids;
mod lobby;
mod order;
mod pricing;
mod schedule;
mod seats;
mod stations;
mod train;
mod user;

pub use decider::Decider;
pub use event::{
    DecodeError, DomainEvent, EventFamily, current_version, decode, encode, stored_version,
};
pub use ids::{BookingId, LobbyId, TrainId, UserId};
pub use lobby::{Lobby, LobbyCloseReason, LobbyCommand, LobbyError, LobbyEvent, LobbyState};
pub use order::{
    BadId, CancelledTicket, Departed, LegStatus, Order, OrderCancelReason, OrderCommand,
    OrderError, OrderEvent, OrderHold, OrderId, OrderState, OrderStatus, OrderTicket, Orders,
    Payment, PaymentId, PaymentStatus, PaymentToken, PaymentView, Phase, ProviderEvent,
    ProviderEventKind, Refund, RefundId, RefundPolicy, RefundStatus, Ticket, TicketCancelReason,
    TicketStatus, refund_backoff,
};
pub use pricing::{
    BadCurrency, Currency, DEFAULT_DEMAND, DEFAULT_LEAD, DemandTier, LeadTier, Money, Quote,
    QuoteLine, Tariff,
};
pub use schedule::{Route, SeatCount, TravelTime, ValueError};
pub use seats::{Coach, Layout, SeatClass, SeatError, SeatId};
pub use stations::{MAX_STATION_CHARS, MAX_STOPS, StopsError, station_key, stops, stops_of_route};
pub use train::{
    ActiveBooking, ActiveTrain, BadHoldId, BookingCancelReason, Hold, HoldId, HoldReleaseReason,
    Holder, MAX_SEATS_PER_HOLD, SeatRequest, SeatUse, Train, TrainCommand, TrainDetails,
    TrainError, TrainEvent, TrainState, TrainUpdate, Traveller, user_credentials,
};
pub use user::{
    EmailClaim, EmailCommand, EmailError, EmailEvent, EmailKey, EmailState, OwnedBooking, Role,
    Sealed, User, UserCommand, UserError, UserEvent, UserState,
};
