//! What happened to an order: the events of its stream, which are also the steps of the order
//! process. Every event names the order's owner, so a notification needs no lookup.
//!
//! Stored forever, so this file changes only by adding.

use super::{OrderId, PaymentId, PaymentToken, RefundId};
use crate::{BookingId, HoldId, Money, SeatClass, SeatId, TrainId, TravelTime, Traveller, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One seat of an order: the booking it becomes once paid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The id its booking gets when it is issued.
    pub ticket_id: BookingId,
    pub train_id: TrainId,
    /// The hold that keeps its seat until payment.
    pub hold_id: HoldId,
    pub seat: SeatId,
    pub class: SeatClass,
    /// Its price, from the hold's quote, in minor units of the order's currency.
    pub amount: i64,
    /// Who travels on it, sealed under the owner's key like a booking's traveller.
    pub passenger: Traveller,
    /// When its train leaves, as the schedule read when the order was placed (or rescheduled).
    pub departure: TravelTime,
}

/// A ticket given up, and what comes back for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelledTicket {
    pub ticket_id: BookingId,
    pub train_id: TrainId,
    /// Whether its train still holds its booking, to be cancelled there (false for a ticket
    /// never issued, or one its train already cancelled).
    pub on_train: bool,
    /// Refunded for it, in minor units (0 when nothing comes back).
    pub refund: i64,
}

/// Why tickets were given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketCancelReason {
    /// Their owner (or an operator) cancelled them, refunded by the policy.
    Requested,
    /// The train was removed: refunded in full.
    TrainRemoved,
    /// A train of the order could not issue its tickets, so none stand: refunded in full.
    NotIssued,
    /// A payment came for an order that had already ended: refunded in full.
    OrderEnded,
}

/// A hold of an order, and its train.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderHold {
    pub train_id: TrainId,
    pub hold_id: HoldId,
}

/// Why an order ended before it was paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderCancelReason {
    Requested,
    /// One of its holds was gone before it could be extended.
    HoldLost,
}

/// What an order's stream records. Stored forever: names and fields are a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderEvent {
    /// Seats of one or several holds, to be paid for by `pay_by`.
    OrderPlaced {
        order_id: OrderId,
        owner: UserId,
        tickets: Vec<Ticket>,
        total: Money,
        pay_by: DateTime<Utc>,
        placed_at: DateTime<Utc>,
    },
    /// Ended before payment: cancelled, or a hold was gone when it was to be extended.
    OrderCancelled {
        order_id: OrderId,
        owner: UserId,
        reason: OrderCancelReason,
        /// Its holds, to be let go.
        holds: Vec<OrderHold>,
        cancelled_at: DateTime<Utc>,
    },
    /// `pay_by` is near (the owner is told).
    ExpiryWarned {
        order_id: OrderId,
        owner: UserId,
        pay_by: DateTime<Utc>,
        warned_at: DateTime<Utc>,
    },
    /// `pay_by` passed without a successful payment; a payment that succeeds later is still
    /// honoured (the seats taken again if free) or refunded.
    OrderExpired {
        order_id: OrderId,
        owner: UserId,
        expired_at: DateTime<Utc>,
    },
    /// A payment asked of the provider, under `payment_id` as its idempotency key.
    PaymentRequested {
        order_id: OrderId,
        owner: UserId,
        payment_id: PaymentId,
        amount: Money,
        method: String,
        token: PaymentToken,
        requested_at: DateTime<Utc>,
    },
    PaymentSucceeded {
        order_id: OrderId,
        owner: UserId,
        payment_id: PaymentId,
        amount: Money,
        /// The provider's event that told us, so a redelivery changes nothing.
        provider_event_id: String,
        /// The tickets to issue now; empty when the order had already ended and the payment
        /// goes back.
        tickets: Vec<Ticket>,
        succeeded_at: DateTime<Utc>,
    },
    /// The provider declined the payment, or refused it at once (`provider_event_id` empty).
    PaymentFailed {
        order_id: OrderId,
        owner: UserId,
        payment_id: PaymentId,
        provider_event_id: String,
        failed_at: DateTime<Utc>,
    },
    /// A train turned one hold of the order into bookings.
    TicketsIssued {
        order_id: OrderId,
        owner: UserId,
        train_id: TrainId,
        hold_id: HoldId,
        ticket_ids: Vec<BookingId>,
        issued_at: DateTime<Utc>,
    },
    /// A train could not issue one hold's tickets: its seats were gone.
    IssueFailed {
        order_id: OrderId,
        owner: UserId,
        train_id: TrainId,
        hold_id: HoldId,
        failed_at: DateTime<Utc>,
    },
    /// Every ticket is issued.
    OrderConfirmed {
        order_id: OrderId,
        owner: UserId,
        tickets: Vec<Ticket>,
        confirmed_at: DateTime<Utc>,
    },
    /// Tickets given up; those issued go back to their trains.
    TicketsCancelled {
        order_id: OrderId,
        owner: UserId,
        tickets: Vec<CancelledTicket>,
        reason: TicketCancelReason,
        cancelled_at: DateTime<Utc>,
    },
    /// Money to give back, asked of the provider under `refund_id` as its idempotency key.
    RefundRequested {
        order_id: OrderId,
        owner: UserId,
        refund_id: RefundId,
        payment_id: PaymentId,
        amount: Money,
        reason: TicketCancelReason,
        /// The failed refund this one tries again, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_of: Option<RefundId>,
        requested_at: DateTime<Utc>,
    },
    RefundSucceeded {
        order_id: OrderId,
        owner: UserId,
        refund_id: RefundId,
        amount: Money,
        provider_event_id: String,
        succeeded_at: DateTime<Utc>,
    },
    /// The provider could not refund; tried again from `retry_at` under a new refund id.
    RefundFailed {
        order_id: OrderId,
        owner: UserId,
        refund_id: RefundId,
        provider_event_id: String,
        /// How many refunds of this money have failed so far.
        attempt: u32,
        retry_at: DateTime<Utc>,
        failed_at: DateTime<Utc>,
    },
    /// A train of the order's issued tickets leaves or arrives at another time: its tickets
    /// may be cancelled with a full refund until the new departure.
    TrainRescheduled {
        order_id: OrderId,
        owner: UserId,
        train_id: TrainId,
        departure: TravelTime,
        arrival: TravelTime,
        rescheduled_at: DateTime<Utc>,
    },
}

impl OrderEvent {
    pub fn order_id(&self) -> &OrderId {
        self.parts().0
    }

    /// The account the order belongs to.
    pub fn owner(&self) -> UserId {
        self.parts().1
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        self.parts().2
    }

    fn parts(&self) -> (&OrderId, UserId, DateTime<Utc>) {
        match self {
            Self::OrderPlaced {
                order_id,
                owner,
                placed_at: at,
                ..
            }
            | Self::OrderCancelled {
                order_id,
                owner,
                cancelled_at: at,
                ..
            }
            | Self::ExpiryWarned {
                order_id,
                owner,
                warned_at: at,
                ..
            }
            | Self::OrderExpired {
                order_id,
                owner,
                expired_at: at,
            }
            | Self::PaymentRequested {
                order_id,
                owner,
                requested_at: at,
                ..
            }
            | Self::PaymentSucceeded {
                order_id,
                owner,
                succeeded_at: at,
                ..
            }
            | Self::PaymentFailed {
                order_id,
                owner,
                failed_at: at,
                ..
            }
            | Self::TicketsIssued {
                order_id,
                owner,
                issued_at: at,
                ..
            }
            | Self::IssueFailed {
                order_id,
                owner,
                failed_at: at,
                ..
            }
            | Self::OrderConfirmed {
                order_id,
                owner,
                confirmed_at: at,
                ..
            }
            | Self::TicketsCancelled {
                order_id,
                owner,
                cancelled_at: at,
                ..
            }
            | Self::RefundRequested {
                order_id,
                owner,
                requested_at: at,
                ..
            }
            | Self::RefundSucceeded {
                order_id,
                owner,
                succeeded_at: at,
                ..
            }
            | Self::RefundFailed {
                order_id,
                owner,
                failed_at: at,
                ..
            }
            | Self::TrainRescheduled {
                order_id,
                owner,
                rescheduled_at: at,
                ..
            } => (order_id, *owner, *at),
        }
    }
}

impl crate::EventFamily for OrderEvent {
    const TYPES: &'static [(&'static str, u32)] = &[
        ("OrderPlaced", 1),
        ("OrderCancelled", 1),
        ("ExpiryWarned", 1),
        ("OrderExpired", 1),
        ("PaymentRequested", 1),
        ("PaymentSucceeded", 1),
        ("PaymentFailed", 1),
        ("TicketsIssued", 1),
        ("IssueFailed", 1),
        ("OrderConfirmed", 1),
        ("TicketsCancelled", 1),
        ("RefundRequested", 1),
        ("RefundSucceeded", 1),
        ("RefundFailed", 1),
        ("TrainRescheduled", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::OrderPlaced { .. } => "OrderPlaced",
            Self::OrderCancelled { .. } => "OrderCancelled",
            Self::ExpiryWarned { .. } => "ExpiryWarned",
            Self::OrderExpired { .. } => "OrderExpired",
            Self::PaymentRequested { .. } => "PaymentRequested",
            Self::PaymentSucceeded { .. } => "PaymentSucceeded",
            Self::PaymentFailed { .. } => "PaymentFailed",
            Self::TicketsIssued { .. } => "TicketsIssued",
            Self::IssueFailed { .. } => "IssueFailed",
            Self::OrderConfirmed { .. } => "OrderConfirmed",
            Self::TicketsCancelled { .. } => "TicketsCancelled",
            Self::RefundRequested { .. } => "RefundRequested",
            Self::RefundSucceeded { .. } => "RefundSucceeded",
            Self::RefundFailed { .. } => "RefundFailed",
            Self::TrainRescheduled { .. } => "TrainRescheduled",
        }
    }
}
