//! Orders: several tickets, one payment, and what happens when something fails.
//!
//! An order is a process over durable events, the event-sourced form of a two-phase commit.
//! Its stream records each step (placed, payment asked, paid, tickets issued, confirmed) and
//! each compensation (expired, refunded, tickets given back); the trains decide everything
//! about seats in their own streams, and reactors carry the steps between the two, each
//! command caused by the event before it, so a step repeated after a crash records nothing
//! twice. The provider's webhooks arrive as commands here too: an event id already applied,
//! or an event that would move a settled payment, changes nothing.

mod commands;
mod decide;
mod events;
mod ids;
mod refunds;
mod state;

pub use commands::{OrderCommand, ProviderEvent, ProviderEventKind};
pub use decide::{OrderError, Orders, refund_backoff};
pub use events::{
    CancelledTicket, OrderCancelReason, OrderEvent, OrderHold, Ticket, TicketCancelReason,
};
pub use ids::{BadId, OrderId, PaymentId, RefundId};
pub use refunds::{Departed, RefundPolicy};
pub use state::{
    LegStatus, Order, OrderState, OrderStatus, OrderTicket, Payment, PaymentStatus, PaymentView,
    Phase, Refund, RefundStatus, TicketStatus,
};

use serde::{Deserialize, Serialize};

/// A payment method's token from the provider: what a payment is charged to. Card data never
/// enters the system, only these; still, a token is not for logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentToken(pub String);

impl std::fmt::Debug for PaymentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaymentToken(..)")
    }
}
