//! The statuses readers see, folded from the order's history with the decider's own `evolve`:
//! the order's (`GET /orders`) and each payment's (`GET /payments`).

use super::{
    OWNER, TOTAL, TRAIN_A, TRAIN_B, before_departure, confirmed_one_train, confirmed_two_trains,
    eur, expired, folded, gone, one_train, order_cancelled, order_id, paid, payment,
    payment_failed, payment_requested, placed, refund, refund_failed, refund_requested,
    refund_succeeded, tickets_cancelled, two_trains,
};
use crate::at;
use chrono::TimeDelta;
use domain::{
    OrderCancelReason, OrderEvent, OrderStatus, PaymentView, TicketCancelReason, refund_backoff,
};

const REQUESTED: TicketCancelReason = TicketCancelReason::Requested;

#[track_caller]
fn status(history: &[OrderEvent]) -> OrderStatus {
    folded(history).status()
}

/// The status of the order's first payment.
#[track_caller]
fn payment_status(history: &[OrderEvent]) -> PaymentView {
    let order = folded(history);
    let first = order
        .payments
        .iter()
        .find(|p| p.payment_id == payment(1))
        .expect("the first payment");
    order.payment_status(first)
}

/// The confirmed two-train order with ticket 2 given up for `refunded` back.
fn one_of_two_cancelled(refunded: i64) -> Vec<OrderEvent> {
    let when = before_departure(TimeDelta::days(10));
    let mut history = confirmed_two_trains();
    history.push(tickets_cancelled(
        vec![gone(2, TRAIN_B, true, refunded)],
        REQUESTED,
        when,
    ));
    if refunded > 0 {
        history.push(refund_requested(1, refunded, REQUESTED, when));
    }
    history
}

// The order.

#[test]
fn a_placed_order_awaits_payment_even_while_a_payment_is_pending() {
    assert_eq!(status(&[placed(one_train())]), OrderStatus::AwaitingPayment);
    assert_eq!(
        status(&[placed(one_train()), payment_requested(1, 1)]),
        OrderStatus::AwaitingPayment
    );
}

#[test]
fn a_paid_order_is_paid_until_its_last_train_issues() {
    assert_eq!(status(&paid(two_trains())), OrderStatus::Paid);
    let mut history = paid(two_trains());
    history.push(super::tickets_issued(TRAIN_A, 1, &[1], 3));
    assert_eq!(status(&history), OrderStatus::Paid);
}

#[test]
fn an_order_whose_every_ticket_is_issued_is_confirmed() {
    assert_eq!(status(&confirmed_one_train()), OrderStatus::Confirmed);
    assert_eq!(status(&confirmed_two_trains()), OrderStatus::Confirmed);
}

#[test]
fn an_order_past_its_due_time_unpaid_is_expired() {
    assert_eq!(
        status(&[placed(one_train()), expired(30)]),
        OrderStatus::Expired
    );
}

#[test]
fn an_order_ended_before_payment_is_cancelled() {
    let history = [
        placed(one_train()),
        order_cancelled(OrderCancelReason::HoldLost, &[(TRAIN_A, 1)], 1),
    ];
    assert_eq!(status(&history), OrderStatus::Cancelled);
}

#[test]
fn an_order_whose_tickets_all_went_back_with_money_is_refunded() {
    let when = before_departure(TimeDelta::days(10));
    let mut history = confirmed_one_train();
    history.extend([
        tickets_cancelled(
            vec![gone(1, TRAIN_A, true, 1500), gone(2, TRAIN_A, true, 2500)],
            REQUESTED,
            when,
        ),
        refund_requested(1, TOTAL, REQUESTED, when),
    ]);
    assert_eq!(status(&history), OrderStatus::Refunded);
}

#[test]
fn an_order_whose_tickets_all_went_back_for_nothing_is_cancelled() {
    let when = before_departure(TimeDelta::hours(1));
    let mut history = confirmed_one_train();
    history.push(tickets_cancelled(
        vec![gone(1, TRAIN_A, true, 0), gone(2, TRAIN_A, true, 0)],
        REQUESTED,
        when,
    ));
    assert_eq!(status(&history), OrderStatus::Cancelled);
}

#[test]
fn an_order_one_of_whose_two_tickets_was_refunded_is_partially_refunded() {
    assert_eq!(
        status(&one_of_two_cancelled(2500)),
        OrderStatus::PartiallyRefunded
    );
}

#[test]
fn an_order_one_of_whose_tickets_went_back_for_nothing_stays_confirmed() {
    assert_eq!(status(&one_of_two_cancelled(0)), OrderStatus::Confirmed);
}

#[test]
fn an_order_a_train_could_not_issue_is_refunded() {
    let mut history = paid(two_trains());
    history.extend([
        super::tickets_issued(TRAIN_A, 1, &[1], 3),
        OrderEvent::IssueFailed {
            order_id: order_id(),
            owner: OWNER,
            train_id: TRAIN_B,
            hold_id: super::hold(2),
            failed_at: at(4),
        },
        tickets_cancelled(
            vec![gone(1, TRAIN_A, true, 1500), gone(2, TRAIN_B, false, 2500)],
            TicketCancelReason::NotIssued,
            at(4),
        ),
        refund_requested(1, TOTAL, TicketCancelReason::NotIssued, at(4)),
    ]);
    assert_eq!(status(&history), OrderStatus::Refunded);
}

#[test]
fn order_statuses_read_as_the_api_writes_them() {
    let names: Vec<&str> = [
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
        OrderStatus::PartiallyRefunded,
    ]
    .into_iter()
    .map(OrderStatus::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "awaiting_payment",
            "paid",
            "confirmed",
            "expired",
            "cancelled",
            "refunded",
            "partially_refunded"
        ]
    );
}

// The payment.

#[test]
fn a_payment_is_pending_then_succeeded_or_failed() {
    assert_eq!(
        payment_status(&[placed(one_train()), payment_requested(1, 1)]),
        PaymentView::Pending
    );
    assert_eq!(payment_status(&paid(one_train())), PaymentView::Succeeded);
    let declined = [
        placed(one_train()),
        payment_requested(1, 1),
        payment_failed(1, "evt-declined", 2),
    ];
    assert_eq!(payment_status(&declined), PaymentView::Failed);
}

#[test]
fn a_payment_is_partially_refunded_when_part_of_it_came_back() {
    let mut history = one_of_two_cancelled(2500);
    history.push(refund_succeeded(1, 2500, at(20)));
    assert_eq!(payment_status(&history), PaymentView::PartiallyRefunded);
}

#[test]
fn a_payment_is_refunded_when_all_of_it_came_back() {
    let mut history = one_of_two_cancelled(2500);
    let when = before_departure(TimeDelta::days(10));
    history.extend([
        refund_succeeded(1, 2500, at(20)),
        tickets_cancelled(vec![gone(1, TRAIN_A, true, 1500)], REQUESTED, when),
        refund_requested(2, 1500, REQUESTED, when),
        refund_succeeded(2, 1500, at(21)),
    ]);
    assert_eq!(payment_status(&history), PaymentView::Refunded);
    assert_eq!(status(&history), OrderStatus::Refunded);
}

#[test]
fn a_payment_shows_a_failing_refund_until_a_retry_is_asked() {
    let mut history = one_of_two_cancelled(2500);
    history.push(refund_failed(1, "evt-r1-failed", 1, at(20)));
    assert_eq!(payment_status(&history), PaymentView::RefundFailed);
    history.push(OrderEvent::RefundRequested {
        order_id: order_id(),
        owner: OWNER,
        refund_id: refund(2),
        payment_id: payment(1),
        amount: eur(2500),
        reason: REQUESTED,
        retry_of: Some(refund(1)),
        requested_at: at(20) + refund_backoff(1),
    });
    assert_eq!(payment_status(&history), PaymentView::Succeeded);
    history.push(refund_succeeded(2, 2500, at(21)));
    assert_eq!(payment_status(&history), PaymentView::PartiallyRefunded);
}

#[test]
fn a_payment_that_came_after_the_order_ended_is_refunded_once_its_refund_succeeds() {
    let history = [
        placed(one_train()),
        payment_requested(1, 1),
        order_cancelled(OrderCancelReason::Requested, &[(TRAIN_A, 1)], 2),
        super::payment_succeeded(1, "evt-paid", Vec::new(), 3),
        refund_requested(1, TOTAL, TicketCancelReason::OrderEnded, at(3)),
        refund_succeeded(1, TOTAL, at(4)),
    ];
    assert_eq!(payment_status(&history), PaymentView::Refunded);
    assert_eq!(status(&history), OrderStatus::Cancelled);
}

#[test]
fn payment_statuses_read_as_the_api_writes_them() {
    let names: Vec<&str> = [
        PaymentView::Pending,
        PaymentView::Succeeded,
        PaymentView::Failed,
        PaymentView::Refunded,
        PaymentView::PartiallyRefunded,
        PaymentView::RefundFailed,
    ]
    .into_iter()
    .map(PaymentView::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "pending",
            "succeeded",
            "failed",
            "refunded",
            "partially_refunded",
            "refund_failed"
        ]
    );
}
