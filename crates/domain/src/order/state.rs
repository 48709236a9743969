//! An order's state, folded from its events, and the statuses it shows.
//!
//! The state is serialisable: the orders read model keeps it as it stands and folds each new
//! event into it with the same [`evolve`], so the statuses a reader sees are decided by the
//! same code as the rules.

use super::{
    CancelledTicket, OrderEvent, OrderHold, OrderId, PaymentId, PaymentToken, RefundId, Ticket,
    TicketCancelReason,
};
use crate::{HoldId, Money, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where the order process stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    AwaitingPayment,
    /// Ended unpaid: cancelled, or a hold was lost when it was placed.
    Cancelled,
    /// `pay_by` passed unpaid; a late payment can still confirm it.
    Expired,
    /// Paid; the trains are issuing its tickets.
    Paid,
    /// Every ticket issued (some may have been cancelled since).
    Confirmed,
    /// Paid, but a train could not issue its tickets: all of them given up and refunded.
    Unwound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting for payment and issue.
    Pending,
    Issued,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTicket {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub status: TicketStatus,
    /// What was decided to come back for it when it was cancelled.
    pub refund: i64,
    /// Its train was rescheduled after it was issued: full refund until departure.
    pub rescheduled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub payment_id: PaymentId,
    pub amount: Money,
    pub method: String,
    pub token: PaymentToken,
    pub status: PaymentStatus,
    /// Refunds of it that succeeded, in minor units.
    pub refunded: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    /// Failed; tried again under a new id from `retry_at`.
    Failed {
        attempt: u32,
        retry_at: DateTime<Utc>,
    },
    /// Failed, and a newer refund tries again.
    Retried,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: RefundId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub reason: TicketCancelReason,
    pub status: RefundStatus,
    /// Failed refunds of this money before this one.
    pub attempts_before: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegStatus {
    Pending,
    Issued,
    Failed,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub owner: UserId,
    pub tickets: Vec<OrderTicket>,
    pub total: Money,
    pub pay_by: DateTime<Utc>,
    pub placed_at: DateTime<Utc>,
    pub phase: Phase,
    pub payments: Vec<Payment>,
    pub refunds: Vec<Refund>,
    /// Each hold, and whether its train issued its tickets.
    pub legs: BTreeMap<HoldId, LegStatus>,
    pub warned: bool,
    /// Provider events already applied.
    pub seen: BTreeSet<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[expect(
    clippy::large_enum_variant,
    reason = "a stream holds one state; boxing would cost an allocation for nothing"
)]
pub enum OrderState {
    #[default]
    NotPlaced,
    Placed(Order),
}

/// What `GET /orders` shows as an order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    AwaitingPayment,
    Paid,
    Confirmed,
    Expired,
    Cancelled,
    Refunded,
    PartiallyRefunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }
}

/// What `GET /payments` shows as a payment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentView {
    Pending,
    Succeeded,
    Failed,
    Refunded,
    PartiallyRefunded,
    RefundFailed,
}

impl PaymentView {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::RefundFailed => "refund_failed",
        }
    }
}

impl Order {
    pub fn status(&self) -> OrderStatus {
        match self.phase {
            Phase::AwaitingPayment => OrderStatus::AwaitingPayment,
            Phase::Cancelled => OrderStatus::Cancelled,
            Phase::Expired => OrderStatus::Expired,
            Phase::Paid => OrderStatus::Paid,
            Phase::Confirmed | Phase::Unwound => {
                let live = self
                    .tickets
                    .iter()
                    .filter(|t| t.status == TicketStatus::Issued)
                    .count();
                let refunded = self.tickets.iter().any(|t| t.refund > 0);
                match (live, refunded) {
                    (live, _) if live == self.tickets.len() => OrderStatus::Confirmed,
                    (0, true) => OrderStatus::Refunded,
                    (0, false) => OrderStatus::Cancelled,
                    (_, true) => OrderStatus::PartiallyRefunded,
                    (_, false) => OrderStatus::Confirmed,
                }
            }
        }
    }

    pub fn payment_status(&self, payment: &Payment) -> PaymentView {
        match payment.status {
            PaymentStatus::Pending => PaymentView::Pending,
            PaymentStatus::Failed => PaymentView::Failed,
            PaymentStatus::Succeeded => {
                let failing = self.refunds.iter().any(|refund| {
                    refund.payment_id == payment.payment_id
                        && matches!(refund.status, RefundStatus::Failed { .. })
                });
                if failing {
                    PaymentView::RefundFailed
                } else if payment.refunded >= payment.amount.amount {
                    PaymentView::Refunded
                } else if payment.refunded > 0 {
                    PaymentView::PartiallyRefunded
                } else {
                    PaymentView::Succeeded
                }
            }
        }
    }

    /// The payment that succeeded, if one did.
    pub fn paid(&self) -> Option<&Payment> {
        self.payments
            .iter()
            .find(|p| p.status == PaymentStatus::Succeeded)
    }

    /// Each hold of the order with its train, once.
    pub fn holds(&self) -> Vec<OrderHold> {
        let mut holds: Vec<OrderHold> = Vec::new();
        for ticket in &self.tickets {
            if !holds.iter().any(|h| h.hold_id == ticket.ticket.hold_id) {
                holds.push(OrderHold {
                    train_id: ticket.ticket.train_id,
                    hold_id: ticket.ticket.hold_id.clone(),
                });
            }
        }
        holds
    }

    pub(super) fn payment_mut(&mut self, id: &PaymentId) -> Option<&mut Payment> {
        self.payments.iter_mut().find(|p| &p.payment_id == id)
    }

    pub(super) fn refund_mut(&mut self, id: &RefundId) -> Option<&mut Refund> {
        self.refunds.iter_mut().find(|r| &r.refund_id == id)
    }

    fn cancel(&mut self, cancelled: &[CancelledTicket]) {
        for gone in cancelled {
            if let Some(ticket) = self
                .tickets
                .iter_mut()
                .find(|t| t.ticket.ticket_id == gone.ticket_id)
            {
                ticket.status = TicketStatus::Cancelled;
                ticket.refund += gone.refund;
            }
        }
    }
}

/// Folds one recorded event into the state.
pub(super) fn evolve(state: OrderState, event: &OrderEvent) -> OrderState {
    let mut order = match (state, event) {
        (
            OrderState::NotPlaced,
            OrderEvent::OrderPlaced {
                order_id,
                owner,
                tickets,
                total,
                pay_by,
                placed_at,
            },
        ) => {
            let order = Order {
                order_id: order_id.clone(),
                owner: *owner,
                tickets: tickets
                    .iter()
                    .map(|ticket| OrderTicket {
                        ticket: ticket.clone(),
                        status: TicketStatus::Pending,
                        refund: 0,
                        rescheduled: false,
                    })
                    .collect(),
                total: total.clone(),
                pay_by: *pay_by,
                placed_at: *placed_at,
                phase: Phase::AwaitingPayment,
                payments: Vec::new(),
                refunds: Vec::new(),
                legs: tickets
                    .iter()
                    .map(|t| (t.hold_id.clone(), LegStatus::Pending))
                    .collect(),
                warned: false,
                seen: BTreeSet::new(),
                updated_at: *placed_at,
            };
            return OrderState::Placed(order);
        }
        (OrderState::Placed(order), _) => order,
        (state, _) => return state,
    };
    order.updated_at = event.at();
    match event {
        OrderEvent::OrderPlaced { .. } => {}
        OrderEvent::OrderCancelled { .. } => order.phase = Phase::Cancelled,
        OrderEvent::ExpiryWarned { .. } => order.warned = true,
        OrderEvent::OrderExpired { .. } => order.phase = Phase::Expired,
        OrderEvent::PaymentRequested {
            payment_id,
            amount,
            method,
            token,
            ..
        } => order.payments.push(Payment {
            payment_id: payment_id.clone(),
            amount: amount.clone(),
            method: method.clone(),
            token: token.clone(),
            status: PaymentStatus::Pending,
            refunded: 0,
        }),
        OrderEvent::PaymentSucceeded {
            payment_id,
            provider_event_id,
            tickets,
            ..
        } => {
            order.seen.insert(provider_event_id.clone());
            if let Some(payment) = order.payment_mut(payment_id) {
                payment.status = PaymentStatus::Succeeded;
            }
            if !tickets.is_empty() {
                order.phase = Phase::Paid;
            }
        }
        OrderEvent::PaymentFailed {
            payment_id,
            provider_event_id,
            ..
        } => {
            if !provider_event_id.is_empty() {
                order.seen.insert(provider_event_id.clone());
            }
            if let Some(payment) = order.payment_mut(payment_id) {
                payment.status = PaymentStatus::Failed;
            }
        }
        OrderEvent::TicketsIssued {
            hold_id,
            ticket_ids,
            ..
        } => {
            order.legs.insert(hold_id.clone(), LegStatus::Issued);
            for ticket in &mut order.tickets {
                if ticket_ids.contains(&ticket.ticket.ticket_id)
                    && ticket.status == TicketStatus::Pending
                {
                    ticket.status = TicketStatus::Issued;
                }
            }
        }
        OrderEvent::IssueFailed { hold_id, .. } => {
            order.legs.insert(hold_id.clone(), LegStatus::Failed);
            order.phase = Phase::Unwound;
        }
        OrderEvent::OrderConfirmed { .. } => order.phase = Phase::Confirmed,
        OrderEvent::TicketsCancelled { tickets, .. } => order.cancel(tickets),
        OrderEvent::RefundRequested {
            refund_id,
            payment_id,
            amount,
            reason,
            retry_of,
            ..
        } => {
            let mut attempts_before = 0;
            if let Some(failed) = retry_of.as_ref().and_then(|id| order.refund_mut(id)) {
                if let RefundStatus::Failed { attempt, .. } = failed.status {
                    attempts_before = attempt;
                }
                failed.status = RefundStatus::Retried;
            }
            order.refunds.push(Refund {
                refund_id: refund_id.clone(),
                payment_id: payment_id.clone(),
                amount: amount.clone(),
                reason: *reason,
                status: RefundStatus::Pending,
                attempts_before,
            });
        }
        OrderEvent::RefundSucceeded {
            refund_id,
            amount,
            provider_event_id,
            ..
        } => {
            order.seen.insert(provider_event_id.clone());
            let paid = order.refund_mut(refund_id).map(|refund| {
                refund.status = RefundStatus::Succeeded;
                refund.payment_id.clone()
            });
            if let Some(payment) = paid.and_then(|id| order.payment_mut(&id)) {
                payment.refunded += amount.amount;
            }
        }
        OrderEvent::RefundFailed {
            refund_id,
            provider_event_id,
            attempt,
            retry_at,
            ..
        } => {
            if !provider_event_id.is_empty() {
                order.seen.insert(provider_event_id.clone());
            }
            let mut owed_again = None;
            if let Some(refund) = order.refund_mut(refund_id) {
                if refund.status == RefundStatus::Succeeded {
                    owed_again = Some((refund.payment_id.clone(), refund.amount.amount));
                }
                refund.status = RefundStatus::Failed {
                    attempt: *attempt,
                    retry_at: *retry_at,
                };
            }
            // It had been counted as paid back; it is not.
            if let Some((payment_id, amount)) = owed_again
                && let Some(payment) = order.payment_mut(&payment_id)
            {
                payment.refunded -= amount;
            }
        }
        OrderEvent::TrainRescheduled {
            train_id,
            departure,
            ..
        } => {
            for ticket in &mut order.tickets {
                if ticket.ticket.train_id == *train_id && ticket.status == TicketStatus::Issued {
                    ticket.ticket.departure = *departure;
                    ticket.rescheduled = true;
                }
            }
        }
    }
    OrderState::Placed(order)
}
