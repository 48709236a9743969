//! What callers, the provider's webhooks, the trains and the timers ask of an order.

use super::{OrderId, PaymentId, PaymentToken, RefundId, RefundPolicy, Ticket};
use crate::{BookingId, Currency, HoldId, Money, TrainId, TravelTime, UserId};
use chrono::{DateTime, TimeDelta, Utc};

/// What the provider reported, as its webhook told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderEventKind {
    /// Still pending: never moves a payment back.
    PaymentPending,
    PaymentSucceeded,
    PaymentFailed,
    RefundSucceeded,
    RefundFailed,
}

/// One webhook event of the provider, signature already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's id of the event: a redelivery carries the same one.
    pub event_id: String,
    pub kind: ProviderEventKind,
    pub payment_id: PaymentId,
    /// The refund, for refund events.
    pub refund_id: Option<RefundId>,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Tickets for the seats of the caller's holds, to be paid for by `pay_by`. `currencies`
    /// are those of the holds' quotes, which must agree.
    Place {
        order_id: OrderId,
        owner: UserId,
        tickets: Vec<Ticket>,
        currencies: Vec<Currency>,
        pay_by: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The owner (or an operator) gives the order up: before payment its holds go, after
    /// confirmation its tickets are refunded by `policy`.
    Cancel {
        policy: RefundPolicy,
        at: DateTime<Utc>,
    },
    /// Gives one issued ticket up, refunded by `policy`.
    CancelTicket {
        ticket_id: BookingId,
        policy: RefundPolicy,
        at: DateTime<Utc>,
    },
    RequestPayment {
        method: String,
        token: PaymentToken,
        at: DateTime<Utc>,
    },
    /// A webhook of the provider, received at `at`.
    ApplyProviderEvent {
        event: ProviderEvent,
        at: DateTime<Utc>,
    },
    /// The provider refused a payment at once, for good.
    PaymentRefused {
        payment_id: PaymentId,
        at: DateTime<Utc>,
    },
    /// The provider refused a refund at once.
    RefundRefused {
        refund_id: RefundId,
        at: DateTime<Utc>,
    },
    /// A train could not extend one of the order's holds: it was gone.
    RejectHold { hold_id: HoldId, at: DateTime<Utc> },
    /// A train issued one hold's tickets.
    NoteIssued {
        train_id: TrainId,
        hold_id: HoldId,
        ticket_ids: Vec<BookingId>,
        at: DateTime<Utc>,
    },
    /// A train could not issue one hold's tickets.
    NoteIssueFailed {
        train_id: TrainId,
        hold_id: HoldId,
        at: DateTime<Utc>,
    },
    /// A train was removed and cancelled these tickets' bookings itself.
    NoteTrainRemoved {
        train_id: TrainId,
        ticket_ids: Vec<BookingId>,
        at: DateTime<Utc>,
    },
    /// A train of the order leaves or arrives at another time.
    NoteRescheduled {
        train_id: TrainId,
        departure: TravelTime,
        arrival: TravelTime,
        at: DateTime<Utc>,
    },
    /// Tells the owner once that `pay_by` is less than `warning` away.
    WarnExpiry {
        warning: TimeDelta,
        at: DateTime<Utc>,
    },
    /// Ends an unpaid order whose `pay_by` has passed; nothing otherwise.
    Expire { at: DateTime<Utc> },
    /// Asks again for every failed refund whose time to retry has come.
    RetryRefunds { at: DateTime<Utc> },
}
