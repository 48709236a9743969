//! Paying: one payment at a time, each under an id derived from the order and a counter, and
//! the provider's webhooks, which may come twice, late or out of order.

use super::{
    OWNER, TOTAL, apply, expired, one_train, order_cancelled, order_id, paid, payment,
    payment_failed, payment_requested, payment_succeeded, placed, refund_requested,
    request_payment, webhook,
};
use crate::{at, given};
use domain::{
    OrderCancelReason, OrderCommand, OrderError, Orders, ProviderEventKind, TicketCancelReason,
};

const SUCCEEDED: ProviderEventKind = ProviderEventKind::PaymentSucceeded;
const FAILED: ProviderEventKind = ProviderEventKind::PaymentFailed;
const PENDING: ProviderEventKind = ProviderEventKind::PaymentPending;

// Asking for payment.

#[test]
fn the_first_payment_asks_for_the_total_under_the_orders_first_payment_id() {
    given::<Orders>(&[placed(one_train())])
        .when(request_payment(1))
        .then(&[payment_requested(1, 1)]);
    assert_eq!(payment(1).as_str(), "pay_1_ord-1");
}

#[test]
fn after_a_failed_payment_the_next_one_is_the_second() {
    given::<Orders>(&[
        placed(one_train()),
        payment_requested(1, 1),
        payment_failed(1, "evt-declined", 2),
    ])
    .when(request_payment(3))
    .then(&[payment_requested(2, 3)]);
    assert_eq!(payment(2).as_str(), "pay_2_ord-1");
}

#[test]
fn a_payment_is_refused_while_another_is_pending() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(request_payment(2))
        .then_error(OrderError::PaymentInProgress);
}

/// A success always moves the order on from awaiting payment (paid, or refunded when it had
/// ended), so a second payment after one succeeded is refused as not awaited.
#[test]
fn an_order_already_paid_takes_no_second_payment() {
    given::<Orders>(&paid(one_train()))
        .when(request_payment(3))
        .then_error(OrderError::NotAwaitingPayment);
}

#[test]
fn a_payment_is_refused_from_the_instant_the_order_is_due() {
    given::<Orders>(&[placed(one_train())])
        .when(request_payment(29))
        .then(&[payment_requested(1, 29)]);
    given::<Orders>(&[placed(one_train())])
        .when(request_payment(30))
        .then_error(OrderError::NotAwaitingPayment);
}

#[test]
fn an_expired_or_cancelled_order_takes_no_payment() {
    given::<Orders>(&[placed(one_train()), expired(30)])
        .when(request_payment(31))
        .then_error(OrderError::NotAwaitingPayment);
    given::<Orders>(&[
        placed(one_train()),
        order_cancelled(OrderCancelReason::Requested, &[(super::TRAIN_A, 1)], 5),
    ])
    .when(request_payment(6))
    .then_error(OrderError::NotAwaitingPayment);
}

// The provider's webhooks.

#[test]
fn a_successful_payment_hands_over_the_tickets_to_issue() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL), 2))
        .then(&[payment_succeeded(1, "evt-paid", one_train(), 2)]);
}

#[test]
fn the_same_provider_event_again_records_nothing() {
    given::<Orders>(&paid(one_train()))
        .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL), 5))
        .then(&[]);
}

#[test]
fn a_pending_event_arriving_after_the_success_changes_nothing() {
    given::<Orders>(&paid(one_train()))
        .when(apply(webhook(PENDING, "evt-pending", 1, TOTAL), 5))
        .then(&[]);
}

#[test]
fn a_pending_event_of_a_pending_payment_records_nothing() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(apply(webhook(PENDING, "evt-pending", 1, TOTAL), 2))
        .then(&[]);
}

#[test]
fn a_declined_payment_is_recorded_as_failed() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(apply(webhook(FAILED, "evt-declined", 1, TOTAL), 2))
        .then(&[payment_failed(1, "evt-declined", 2)]);
}

#[test]
fn a_success_arriving_after_the_failure_of_the_same_payment_changes_nothing() {
    given::<Orders>(&[
        placed(one_train()),
        payment_requested(1, 1),
        payment_failed(1, "evt-declined", 2),
    ])
    .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL), 3))
    .then(&[]);
}

#[test]
fn a_payment_the_provider_refused_at_once_fails_without_a_provider_event() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(OrderCommand::PaymentRefused {
            payment_id: payment(1),
            at: at(1),
        })
        .then(&[payment_failed(1, "", 1)]);
}

#[test]
fn an_event_for_another_amount_than_the_payment_is_refused() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL - 1), 2))
        .then_error(OrderError::AmountMismatch);
}

#[test]
fn an_event_for_a_payment_the_order_never_asked_for_is_refused() {
    given::<Orders>(&[placed(one_train()), payment_requested(1, 1)])
        .when(apply(webhook(SUCCEEDED, "evt-paid", 2, TOTAL), 2))
        .then_error(OrderError::PaymentNotFound);
}

#[test]
fn a_payment_succeeding_after_expiry_still_issues_the_tickets() {
    // The trains take the seats again if they are still free.
    given::<Orders>(&[placed(one_train()), payment_requested(1, 29), expired(30)])
        .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL), 31))
        .then(&[payment_succeeded(1, "evt-paid", one_train(), 31)]);
}

#[test]
fn a_payment_succeeding_after_cancellation_goes_back_in_full() {
    given::<Orders>(&[
        placed(one_train()),
        payment_requested(1, 1),
        order_cancelled(OrderCancelReason::Requested, &[(super::TRAIN_A, 1)], 2),
    ])
    .when(apply(webhook(SUCCEEDED, "evt-paid", 1, TOTAL), 3))
    .then(&[
        payment_succeeded(1, "evt-paid", Vec::new(), 3),
        refund_requested(1, TOTAL, TicketCancelReason::OrderEnded, at(3)),
    ]);
}

#[test]
fn every_order_event_names_its_order_owner_and_time() {
    let event = payment_requested(1, 1);
    assert_eq!(
        (event.order_id(), event.owner(), event.at()),
        (&order_id(), OWNER, at(1))
    );
}
