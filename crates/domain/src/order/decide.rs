//! The order decider: every rule of the order process, and the refusals it gives.

use super::state::{self, LegStatus, Order, Phase, RefundStatus, TicketStatus};
use super::{
    CancelledTicket, OrderCancelReason, OrderCommand, OrderEvent, OrderState, PaymentId,
    PaymentStatus, ProviderEvent, ProviderEventKind, RefundId, RefundPolicy, TicketCancelReason,
};
use crate::{BookingId, Decider, Money};
use chrono::{DateTime, TimeDelta, Utc};

/// The order decider.
pub struct Orders;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("Order not found")]
    OrderNotFound,
    #[error("Order id is already taken")]
    OrderIdTaken,
    #[error("an order takes at least one hold")]
    EmptyOrder,
    #[error("the holds of one order must be priced in one currency")]
    MixedCurrencies,
    #[error("Order is not awaiting payment")]
    NotAwaitingPayment,
    #[error("A payment of this order is already pending or succeeded")]
    PaymentInProgress,
    #[error("Payment not found")]
    PaymentNotFound,
    #[error("Refund not found")]
    RefundNotFound,
    #[error("the amount does not match the payment")]
    AmountMismatch,
    #[error("Ticket not found")]
    TicketNotFound,
    #[error("Train has departed")]
    TrainDeparted,
    /// Paid, and its tickets are being issued: try again in a moment.
    #[error("Order is being confirmed")]
    BeingConfirmed,
    #[error("Order has nothing left to cancel")]
    NothingToCancel,
}

/// How long after a refund's `attempt`-th failure it is tried again: 30 s, doubling, at most an
/// hour.
pub fn refund_backoff(attempt: u32) -> TimeDelta {
    let doublings = attempt.saturating_sub(1).min(7);
    TimeDelta::seconds(30 * (1 << doublings)).min(TimeDelta::hours(1))
}

impl Decider for Orders {
    type State = OrderState;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn decide(state: &OrderState, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        match (state, command) {
            (
                OrderState::NotPlaced,
                OrderCommand::Place {
                    order_id,
                    owner,
                    tickets,
                    currencies,
                    pay_by,
                    at,
                },
            ) => {
                let currency = currencies.first().ok_or(OrderError::EmptyOrder)?;
                if tickets.is_empty() {
                    return Err(OrderError::EmptyOrder);
                }
                if currencies.iter().any(|c| c != currency) {
                    return Err(OrderError::MixedCurrencies);
                }
                let total = Money {
                    amount: tickets.iter().map(|t| t.amount).sum(),
                    currency: currency.clone(),
                };
                Ok(vec![OrderEvent::OrderPlaced {
                    order_id,
                    owner,
                    tickets,
                    total,
                    pay_by,
                    placed_at: at,
                }])
            }
            (OrderState::NotPlaced, _) => Err(OrderError::OrderNotFound),
            (OrderState::Placed(order), command) => decide_placed(order, command),
        }
    }

    fn evolve(state: OrderState, event: &OrderEvent) -> OrderState {
        state::evolve(state, event)
    }
}

fn decide_placed(order: &Order, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
    let (order_id, owner) = (order.order_id.clone(), order.owner);
    match command {
        // The same placement again (a retry) changes nothing.
        OrderCommand::Place { owner: asker, .. } if asker == owner => Ok(vec![]),
        OrderCommand::Place { .. } => Err(OrderError::OrderIdTaken),
        OrderCommand::Cancel { policy, at } => match order.phase {
            Phase::AwaitingPayment => Ok(vec![OrderEvent::OrderCancelled {
                order_id,
                owner,
                reason: OrderCancelReason::Requested,
                holds: order.holds(),
                cancelled_at: at,
            }]),
            Phase::Paid => Err(OrderError::BeingConfirmed),
            Phase::Confirmed => {
                let live: Vec<BookingId> = order
                    .tickets
                    .iter()
                    .filter(|t| t.status == TicketStatus::Issued)
                    .map(|t| t.ticket.ticket_id)
                    .collect();
                if live.is_empty() {
                    return Err(OrderError::NothingToCancel);
                }
                cancel_tickets(order, &live, policy, at)
            }
            Phase::Cancelled | Phase::Expired | Phase::Unwound => Err(OrderError::NothingToCancel),
        },
        OrderCommand::CancelTicket {
            ticket_id,
            policy,
            at,
        } => {
            let ticket = order
                .tickets
                .iter()
                .find(|t| t.ticket.ticket_id == ticket_id)
                .ok_or(OrderError::TicketNotFound)?;
            match (order.phase, ticket.status) {
                (Phase::Confirmed, TicketStatus::Issued) => {
                    cancel_tickets(order, &[ticket_id], policy, at)
                }
                (Phase::Paid, _) => Err(OrderError::BeingConfirmed),
                _ => Err(OrderError::NothingToCancel),
            }
        }
        OrderCommand::RequestPayment { method, token, at } => {
            if order.phase != Phase::AwaitingPayment || at >= order.pay_by {
                return Err(OrderError::NotAwaitingPayment);
            }
            let busy = order
                .payments
                .iter()
                .any(|p| p.status != PaymentStatus::Failed);
            if busy {
                return Err(OrderError::PaymentInProgress);
            }
            Ok(vec![OrderEvent::PaymentRequested {
                payment_id: PaymentId::new(&order.order_id, count(order.payments.len()) + 1),
                order_id,
                owner,
                amount: order.total.clone(),
                method,
                token,
                requested_at: at,
            }])
        }
        OrderCommand::ApplyProviderEvent { event, at } => provider_event(order, event, at),
        OrderCommand::PaymentRefused { payment_id, at } => {
            let payment = order
                .payments
                .iter()
                .find(|p| p.payment_id == payment_id)
                .ok_or(OrderError::PaymentNotFound)?;
            if payment.status != PaymentStatus::Pending {
                return Ok(vec![]);
            }
            Ok(vec![OrderEvent::PaymentFailed {
                order_id,
                owner,
                payment_id,
                provider_event_id: String::new(),
                failed_at: at,
            }])
        }
        OrderCommand::RefundRefused { refund_id, at } => refund_failed(order, refund_id, "", at),
        OrderCommand::RejectHold { at, .. } => {
            if order.phase != Phase::AwaitingPayment {
                return Ok(vec![]);
            }
            Ok(vec![OrderEvent::OrderCancelled {
                order_id,
                owner,
                reason: OrderCancelReason::HoldLost,
                holds: order.holds(),
                cancelled_at: at,
            }])
        }
        OrderCommand::NoteIssued {
            train_id,
            hold_id,
            ticket_ids,
            at,
        } => {
            if order.legs.get(&hold_id) != Some(&LegStatus::Pending) {
                return Ok(vec![]);
            }
            let mut events = vec![OrderEvent::TicketsIssued {
                order_id: order_id.clone(),
                owner,
                train_id,
                hold_id: hold_id.clone(),
                ticket_ids: ticket_ids.clone(),
                issued_at: at,
            }];
            let last = order
                .legs
                .iter()
                .all(|(id, leg)| id == &hold_id || *leg == LegStatus::Issued);
            match order.phase {
                Phase::Paid if last => events.push(OrderEvent::OrderConfirmed {
                    order_id,
                    owner,
                    tickets: order.tickets.iter().map(|t| t.ticket.clone()).collect(),
                    confirmed_at: at,
                }),
                // Another train of the order failed first: these seats go back too; the whole
                // payment is already being refunded.
                Phase::Unwound => events.push(OrderEvent::TicketsCancelled {
                    order_id,
                    owner,
                    tickets: order
                        .tickets
                        .iter()
                        .filter(|t| ticket_ids.contains(&t.ticket.ticket_id))
                        .map(|t| CancelledTicket {
                            ticket_id: t.ticket.ticket_id,
                            train_id: t.ticket.train_id,
                            on_train: true,
                            refund: 0,
                        })
                        .collect(),
                    reason: TicketCancelReason::NotIssued,
                    cancelled_at: at,
                }),
                _ => {}
            }
            Ok(events)
        }
        OrderCommand::NoteIssueFailed {
            train_id,
            hold_id,
            at,
        } => {
            if order.legs.get(&hold_id) != Some(&LegStatus::Pending) {
                return Ok(vec![]);
            }
            let mut events = vec![OrderEvent::IssueFailed {
                order_id: order_id.clone(),
                owner,
                train_id,
                hold_id,
                failed_at: at,
            }];
            if order.phase == Phase::Paid {
                // All or nothing: every ticket is given up and the whole payment refunded.
                let tickets = order
                    .tickets
                    .iter()
                    .filter(|t| t.status != TicketStatus::Cancelled)
                    .map(|t| CancelledTicket {
                        ticket_id: t.ticket.ticket_id,
                        train_id: t.ticket.train_id,
                        on_train: t.status == TicketStatus::Issued,
                        refund: t.ticket.amount,
                    })
                    .collect();
                events.push(OrderEvent::TicketsCancelled {
                    order_id,
                    owner,
                    tickets,
                    reason: TicketCancelReason::NotIssued,
                    cancelled_at: at,
                });
                events.extend(refund(
                    order,
                    order.total.amount,
                    TicketCancelReason::NotIssued,
                    at,
                ));
            }
            Ok(events)
        }
        OrderCommand::NoteTrainRemoved {
            train_id,
            ticket_ids,
            at,
        } => {
            let tickets: Vec<CancelledTicket> = order
                .tickets
                .iter()
                .filter(|t| {
                    t.ticket.train_id == train_id
                        && t.status == TicketStatus::Issued
                        && ticket_ids.contains(&t.ticket.ticket_id)
                })
                .map(|t| CancelledTicket {
                    ticket_id: t.ticket.ticket_id,
                    train_id,
                    on_train: false,
                    refund: t.ticket.amount,
                })
                .collect();
            if tickets.is_empty() {
                return Ok(vec![]);
            }
            let amount = tickets.iter().map(|t| t.refund).sum();
            let mut events = vec![OrderEvent::TicketsCancelled {
                order_id,
                owner,
                tickets,
                reason: TicketCancelReason::TrainRemoved,
                cancelled_at: at,
            }];
            events.extend(refund(order, amount, TicketCancelReason::TrainRemoved, at));
            Ok(events)
        }
        OrderCommand::NoteRescheduled {
            train_id,
            departure,
            arrival,
            at,
        } => {
            // A ticket keeps no arrival: a new departure, or a first reschedule of any kind,
            // is news; a repeat of one already heard is not.
            let affected = order.tickets.iter().any(|t| {
                t.ticket.train_id == train_id
                    && t.status == TicketStatus::Issued
                    && (t.ticket.departure != departure || !t.rescheduled)
            });
            if !affected {
                return Ok(vec![]);
            }
            Ok(vec![OrderEvent::TrainRescheduled {
                order_id,
                owner,
                train_id,
                departure,
                arrival,
                rescheduled_at: at,
            }])
        }
        OrderCommand::WarnExpiry { warning, at } => {
            let due = order.phase == Phase::AwaitingPayment
                && !order.warned
                && at >= order.pay_by - warning
                && at < order.pay_by;
            Ok(if due {
                vec![OrderEvent::ExpiryWarned {
                    order_id,
                    owner,
                    pay_by: order.pay_by,
                    warned_at: at,
                }]
            } else {
                vec![]
            })
        }
        OrderCommand::Expire { at } => Ok(
            if order.phase == Phase::AwaitingPayment && at >= order.pay_by {
                vec![OrderEvent::OrderExpired {
                    order_id,
                    owner,
                    expired_at: at,
                }]
            } else {
                vec![]
            },
        ),
        OrderCommand::RetryRefunds { at } => {
            let mut next = count(order.refunds.len());
            Ok(order
                .refunds
                .iter()
                .filter_map(|failed| match failed.status {
                    RefundStatus::Failed { retry_at, .. } if retry_at <= at => {
                        next += 1;
                        Some(OrderEvent::RefundRequested {
                            order_id: order_id.clone(),
                            owner,
                            refund_id: RefundId::new(&order_id, next),
                            payment_id: failed.payment_id.clone(),
                            amount: failed.amount.clone(),
                            reason: failed.reason,
                            retry_of: Some(failed.refund_id.clone()),
                            requested_at: at,
                        })
                    }
                    _ => None,
                })
                .collect())
        }
    }
}

/// Gives `tickets` up at `at`, each refunded by `policy`; refused for all if one's train left.
fn cancel_tickets(
    order: &Order,
    tickets: &[BookingId],
    policy: RefundPolicy,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    let mut cancelled = Vec::new();
    for ticket in order
        .tickets
        .iter()
        .filter(|t| tickets.contains(&t.ticket.ticket_id))
    {
        let refund = policy
            .refund(
                ticket.ticket.amount,
                ticket.ticket.departure.naive(),
                at.naive_utc(),
                ticket.rescheduled,
            )
            .map_err(|_| OrderError::TrainDeparted)?;
        cancelled.push(CancelledTicket {
            ticket_id: ticket.ticket.ticket_id,
            train_id: ticket.ticket.train_id,
            on_train: true,
            refund,
        });
    }
    let amount = cancelled.iter().map(|t| t.refund).sum();
    let mut events = vec![OrderEvent::TicketsCancelled {
        order_id: order.order_id.clone(),
        owner: order.owner,
        tickets: cancelled,
        reason: TicketCancelReason::Requested,
        cancelled_at: at,
    }];
    events.extend(refund(order, amount, TicketCancelReason::Requested, at));
    Ok(events)
}

/// A refund of `amount` of the order's succeeded payment; none for nothing.
fn refund(
    order: &Order,
    amount: i64,
    reason: TicketCancelReason,
    at: DateTime<Utc>,
) -> Option<OrderEvent> {
    let payment = order.paid()?;
    (amount > 0).then(|| OrderEvent::RefundRequested {
        order_id: order.order_id.clone(),
        owner: order.owner,
        refund_id: RefundId::new(&order.order_id, count(order.refunds.len()) + 1),
        payment_id: payment.payment_id.clone(),
        amount: Money {
            amount,
            currency: payment.amount.currency.clone(),
        },
        reason,
        retry_of: None,
        requested_at: at,
    })
}

fn provider_event(
    order: &Order,
    event: ProviderEvent,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    if order.seen.contains(&event.event_id) {
        return Ok(vec![]);
    }
    let (order_id, owner) = (order.order_id.clone(), order.owner);
    match event.kind {
        ProviderEventKind::PaymentPending
        | ProviderEventKind::PaymentSucceeded
        | ProviderEventKind::PaymentFailed => {
            let payment = order
                .payments
                .iter()
                .find(|p| p.payment_id == event.payment_id)
                .ok_or(OrderError::PaymentNotFound)?;
            if payment.amount != event.amount {
                return Err(OrderError::AmountMismatch);
            }
            // Only a pending payment moves, and only forward: a stale or repeated event of a
            // payment that has settled changes nothing.
            if payment.status != PaymentStatus::Pending {
                return Ok(vec![]);
            }
            match event.kind {
                ProviderEventKind::PaymentSucceeded => {
                    let issue = matches!(order.phase, Phase::AwaitingPayment | Phase::Expired);
                    let mut events = vec![OrderEvent::PaymentSucceeded {
                        order_id,
                        owner,
                        payment_id: event.payment_id,
                        amount: event.amount.clone(),
                        provider_event_id: event.event_id,
                        tickets: if issue {
                            order.tickets.iter().map(|t| t.ticket.clone()).collect()
                        } else {
                            Vec::new()
                        },
                        succeeded_at: at,
                    }];
                    if !issue {
                        // The order ended while the payment was on its way: it all goes back.
                        let mut paid = order.clone();
                        for event in &events {
                            paid = match state::evolve(OrderState::Placed(paid), event) {
                                OrderState::Placed(paid) => paid,
                                OrderState::NotPlaced => return Ok(events),
                            };
                        }
                        events.extend(refund(
                            &paid,
                            event.amount.amount,
                            TicketCancelReason::OrderEnded,
                            at,
                        ));
                    }
                    Ok(events)
                }
                ProviderEventKind::PaymentFailed => Ok(vec![OrderEvent::PaymentFailed {
                    order_id,
                    owner,
                    payment_id: event.payment_id,
                    provider_event_id: event.event_id,
                    failed_at: at,
                }]),
                _ => Ok(vec![]),
            }
        }
        ProviderEventKind::RefundSucceeded | ProviderEventKind::RefundFailed => {
            let refund_id = event.refund_id.ok_or(OrderError::RefundNotFound)?;
            let refund = order
                .refunds
                .iter()
                .find(|r| r.refund_id == refund_id)
                .ok_or(OrderError::RefundNotFound)?;
            if refund.amount != event.amount || refund.payment_id != event.payment_id {
                return Err(OrderError::AmountMismatch);
            }
            // A refund the provider reported done may still fail later (a closed card): the
            // failure wins, and the money is owed again. Nothing else moves a settled refund.
            let failed_later = refund.status == RefundStatus::Succeeded
                && event.kind == ProviderEventKind::RefundFailed;
            if refund.status != RefundStatus::Pending && !failed_later {
                return Ok(vec![]);
            }
            if event.kind == ProviderEventKind::RefundFailed {
                return Ok(vec![failure(order, refund, &event.event_id, at)]);
            }
            Ok(vec![OrderEvent::RefundSucceeded {
                order_id,
                owner,
                refund_id,
                amount: event.amount,
                provider_event_id: event.event_id,
                succeeded_at: at,
            }])
        }
    }
}

fn refund_failed(
    order: &Order,
    refund_id: RefundId,
    provider_event_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    let refund = order
        .refunds
        .iter()
        .find(|r| r.refund_id == refund_id)
        .ok_or(OrderError::RefundNotFound)?;
    if refund.status != RefundStatus::Pending {
        return Ok(vec![]);
    }
    Ok(vec![failure(order, refund, provider_event_id, at)])
}

/// `refund` failed at `at`: tried again under a new id after its backoff.
fn failure(
    order: &Order,
    refund: &super::Refund,
    provider_event_id: &str,
    at: DateTime<Utc>,
) -> OrderEvent {
    let attempt = refund.attempts_before + 1;
    OrderEvent::RefundFailed {
        order_id: order.order_id.clone(),
        owner: order.owner,
        refund_id: refund.refund_id.clone(),
        provider_event_id: provider_event_id.to_owned(),
        attempt,
        retry_at: at + refund_backoff(attempt),
        failed_at: at,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
