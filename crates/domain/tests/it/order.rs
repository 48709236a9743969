//! The order process: placing, paying, issuing, cancelling, expiring and refunding an order,
//! and the statuses a reader sees. The builders here are shared by the modules below; every
//! order is `ord-1` of `OWNER`, placed at `at(0)` and to be paid by `at(30)`.
//!
//! Two shapes of order recur: `one_train` (two tickets of one hold) and `two_trains` (one
//! ticket of a hold on each of two trains). Both cost [`TOTAL`], so payments and full refunds
//! read the same in either.

use crate::{at, time};
use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    BookingId, CancelledTicket, Currency, Decider, HoldId, Money, Order, OrderCommand, OrderEvent,
    OrderHold, OrderId, OrderState, Orders, PaymentId, PaymentToken, ProviderEvent,
    ProviderEventKind, RefundId, RefundPolicy, Sealed, SeatClass, SeatId, Ticket,
    TicketCancelReason, TrainId, TravelTime, Traveller, UserId, refund_backoff,
};

mod cancelling;
mod expiry;
mod issuing;
mod payments;
mod placing;
mod policy;
mod refunds;
mod status;

const OWNER: UserId = UserId(11);
const TRAIN_A: TrainId = TrainId(7);
const TRAIN_B: TrainId = TrainId(8);
/// What every order of these tests costs, in euro cents.
const TOTAL: i64 = 4000;

fn order_id() -> OrderId {
    OrderId::parse("ord-1").expect("a valid order id")
}

fn hold(n: u8) -> HoldId {
    HoldId::parse(&format!("hold-{n}")).expect("a valid hold id")
}

fn payment(n: u32) -> PaymentId {
    PaymentId::new(&order_id(), n)
}

fn refund(n: u32) -> RefundId {
    RefundId::new(&order_id(), n)
}

fn eur(amount: i64) -> Money {
    Money {
        amount,
        currency: Currency::eur(),
    }
}

/// When the trains of these orders leave, unless rescheduled.
fn departure() -> TravelTime {
    time("2024-09-25T06:30")
}

/// `left` before [`departure`]: the time of a cancellation by how long before the train it is.
fn before_departure(left: TimeDelta) -> DateTime<Utc> {
    departure().naive().and_utc() - left
}

/// Ticket `id` on `train`, of hold `hold_n`, for a traveller of the owner's account.
fn ticket(id: i64, train: TrainId, hold_n: u8, amount: i64) -> Ticket {
    Ticket {
        ticket_id: BookingId(id),
        train_id: train,
        hold_id: hold(hold_n),
        seat: SeatId::parse(&format!("2-{id}")).expect("a valid seat"),
        class: SeatClass::Second,
        amount,
        passenger: Traveller::Owned {
            owner: OWNER,
            name: Sealed(format!("sealed-{id}")),
            tag: format!("tag-{id}"),
        },
        departure: departure(),
    }
}

/// Two tickets of hold 1 on train A.
fn one_train() -> Vec<Ticket> {
    vec![ticket(1, TRAIN_A, 1, 1500), ticket(2, TRAIN_A, 1, 2500)]
}

/// Ticket 1 of hold 1 on train A and ticket 2 of hold 2 on train B.
fn two_trains() -> Vec<Ticket> {
    vec![ticket(1, TRAIN_A, 1, 1500), ticket(2, TRAIN_B, 2, 2500)]
}

fn place(tickets: Vec<Ticket>, owner: UserId) -> OrderCommand {
    let currencies = vec![Currency::eur(); tickets.len()];
    OrderCommand::Place {
        order_id: order_id(),
        owner,
        tickets,
        currencies,
        pay_by: at(30),
        at: at(0),
    }
}

fn placed(tickets: Vec<Ticket>) -> OrderEvent {
    let total = eur(tickets.iter().map(|t| t.amount).sum());
    OrderEvent::OrderPlaced {
        order_id: order_id(),
        owner: OWNER,
        tickets,
        total,
        pay_by: at(30),
        placed_at: at(0),
    }
}

fn request_payment(minute: u32) -> OrderCommand {
    OrderCommand::RequestPayment {
        method: "card".into(),
        token: PaymentToken("tok_visa".into()),
        at: at(minute),
    }
}

fn payment_requested(n: u32, minute: u32) -> OrderEvent {
    OrderEvent::PaymentRequested {
        order_id: order_id(),
        owner: OWNER,
        payment_id: payment(n),
        amount: eur(TOTAL),
        method: "card".into(),
        token: PaymentToken("tok_visa".into()),
        requested_at: at(minute),
    }
}

/// A webhook of the provider about payment `n`, for `amount`.
fn webhook(kind: ProviderEventKind, event_id: &str, n: u32, amount: i64) -> ProviderEvent {
    ProviderEvent {
        event_id: event_id.into(),
        kind,
        payment_id: payment(n),
        refund_id: None,
        amount: eur(amount),
    }
}

fn apply(event: ProviderEvent, minute: u32) -> OrderCommand {
    OrderCommand::ApplyProviderEvent {
        event,
        at: at(minute),
    }
}

fn payment_succeeded(n: u32, event_id: &str, tickets: Vec<Ticket>, minute: u32) -> OrderEvent {
    OrderEvent::PaymentSucceeded {
        order_id: order_id(),
        owner: OWNER,
        payment_id: payment(n),
        amount: eur(TOTAL),
        provider_event_id: event_id.into(),
        tickets,
        succeeded_at: at(minute),
    }
}

fn payment_failed(n: u32, event_id: &str, minute: u32) -> OrderEvent {
    OrderEvent::PaymentFailed {
        order_id: order_id(),
        owner: OWNER,
        payment_id: payment(n),
        provider_event_id: event_id.into(),
        failed_at: at(minute),
    }
}

fn note_issued(train: TrainId, hold_n: u8, tickets: &[i64], minute: u32) -> OrderCommand {
    OrderCommand::NoteIssued {
        train_id: train,
        hold_id: hold(hold_n),
        ticket_ids: tickets.iter().copied().map(BookingId).collect(),
        at: at(minute),
    }
}

fn tickets_issued(train: TrainId, hold_n: u8, tickets: &[i64], minute: u32) -> OrderEvent {
    OrderEvent::TicketsIssued {
        order_id: order_id(),
        owner: OWNER,
        train_id: train,
        hold_id: hold(hold_n),
        ticket_ids: tickets.iter().copied().map(BookingId).collect(),
        issued_at: at(minute),
    }
}

fn confirmed(tickets: Vec<Ticket>, minute: u32) -> OrderEvent {
    OrderEvent::OrderConfirmed {
        order_id: order_id(),
        owner: OWNER,
        tickets,
        confirmed_at: at(minute),
    }
}

fn order_cancelled(
    reason: domain::OrderCancelReason,
    holds: &[(TrainId, u8)],
    minute: u32,
) -> OrderEvent {
    OrderEvent::OrderCancelled {
        order_id: order_id(),
        owner: OWNER,
        reason,
        holds: holds
            .iter()
            .map(|&(train_id, n)| OrderHold {
                train_id,
                hold_id: hold(n),
            })
            .collect(),
        cancelled_at: at(minute),
    }
}

fn expired(minute: u32) -> OrderEvent {
    OrderEvent::OrderExpired {
        order_id: order_id(),
        owner: OWNER,
        expired_at: at(minute),
    }
}

/// Ticket `id` on `train` given up, with `refund` back.
fn gone(id: i64, train: TrainId, on_train: bool, refund: i64) -> CancelledTicket {
    CancelledTicket {
        ticket_id: BookingId(id),
        train_id: train,
        on_train,
        refund,
    }
}

fn tickets_cancelled(
    tickets: Vec<CancelledTicket>,
    reason: TicketCancelReason,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderEvent::TicketsCancelled {
        order_id: order_id(),
        owner: OWNER,
        tickets,
        reason,
        cancelled_at: at,
    }
}

/// Refund `n` of payment 1, the first of its money (no retry).
fn refund_requested(
    n: u32,
    amount: i64,
    reason: TicketCancelReason,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderEvent::RefundRequested {
        order_id: order_id(),
        owner: OWNER,
        refund_id: refund(n),
        payment_id: payment(1),
        amount: eur(amount),
        reason,
        retry_of: None,
        requested_at: at,
    }
}

fn refund_succeeded(n: u32, amount: i64, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundSucceeded {
        order_id: order_id(),
        owner: OWNER,
        refund_id: refund(n),
        amount: eur(amount),
        provider_event_id: format!("evt-r{n}"),
        succeeded_at: at,
    }
}

/// Refund `n` failed for the `attempt`-th time at `at`, to be tried again after its backoff.
fn refund_failed(n: u32, event_id: &str, attempt: u32, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundFailed {
        order_id: order_id(),
        owner: OWNER,
        refund_id: refund(n),
        provider_event_id: event_id.into(),
        attempt,
        retry_at: at + refund_backoff(attempt),
        failed_at: at,
    }
}

fn cancel(at: DateTime<Utc>) -> OrderCommand {
    OrderCommand::Cancel {
        policy: RefundPolicy::default(),
        at,
    }
}

fn cancel_ticket(id: i64, at: DateTime<Utc>) -> OrderCommand {
    OrderCommand::CancelTicket {
        ticket_id: BookingId(id),
        policy: RefundPolicy::default(),
        at,
    }
}

/// An order placed and paid (payment 1, provider event `evt-paid`), its tickets being issued.
fn paid(tickets: Vec<Ticket>) -> Vec<OrderEvent> {
    vec![
        placed(tickets.clone()),
        payment_requested(1, 1),
        payment_succeeded(1, "evt-paid", tickets, 2),
    ]
}

/// The one-train order paid and confirmed at `at(3)`.
fn confirmed_one_train() -> Vec<OrderEvent> {
    let mut history = paid(one_train());
    history.extend([
        tickets_issued(TRAIN_A, 1, &[1, 2], 3),
        confirmed(one_train(), 3),
    ]);
    history
}

/// The two-train order paid and confirmed at `at(4)`.
fn confirmed_two_trains() -> Vec<OrderEvent> {
    let mut history = paid(two_trains());
    history.extend([
        tickets_issued(TRAIN_A, 1, &[1], 3),
        tickets_issued(TRAIN_B, 2, &[2], 4),
        confirmed(two_trains(), 4),
    ]);
    history
}

/// The order a history folds into, as readers see it.
#[track_caller]
fn folded(history: &[OrderEvent]) -> Order {
    match Orders::fold(history) {
        OrderState::Placed(order) => order,
        OrderState::NotPlaced => panic!("the history places no order"),
    }
}
