//! Refunds: each asked of the provider under its own id; one that fails is asked again under a
//! new id once its backoff has passed (30 s, doubling), naming the refund it retries.

use super::{
    OWNER, TOTAL, TRAIN_A, confirmed_one_train, eur, gone, order_id, payment, refund,
    refund_failed, refund_requested, refund_succeeded, tickets_cancelled,
};
use crate::{at, given};
use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    OrderCommand, OrderError, OrderEvent, Orders, ProviderEvent, ProviderEventKind, RefundId,
    TicketCancelReason, refund_backoff,
};

const REMOVED: TicketCancelReason = TicketCancelReason::TrainRemoved;
const SUCCEEDED: ProviderEventKind = ProviderEventKind::RefundSucceeded;
const FAILED: ProviderEventKind = ProviderEventKind::RefundFailed;

/// The one-train order confirmed, then its train removed at `at(10)`: refund 1 of the total.
fn refunding() -> Vec<OrderEvent> {
    let mut history = confirmed_one_train();
    history.extend([
        tickets_cancelled(
            vec![gone(1, TRAIN_A, false, 1500), gone(2, TRAIN_A, false, 2500)],
            REMOVED,
            at(10),
        ),
        refund_requested(1, TOTAL, REMOVED, at(10)),
    ]);
    history
}

/// Refund 1 failed at `at(11)`.
fn failed_once() -> Vec<OrderEvent> {
    let mut history = refunding();
    history.push(refund_failed(1, "evt-r1", 1, at(11)));
    history
}

/// Refund 1 failed and retried as refund 2 when its backoff ended.
fn retrying() -> Vec<OrderEvent> {
    let mut history = failed_once();
    history.push(retried(2, 1, at(11) + seconds(30)));
    history
}

fn refund_webhook(kind: ProviderEventKind, event_id: &str, n: u32, amount: i64) -> ProviderEvent {
    ProviderEvent {
        event_id: event_id.into(),
        kind,
        payment_id: payment(1),
        refund_id: Some(refund(n)),
        amount: eur(amount),
    }
}

fn apply(event: ProviderEvent, at: DateTime<Utc>) -> OrderCommand {
    OrderCommand::ApplyProviderEvent { event, at }
}

/// The provider tells, at `at`, that refund `n` of the whole total `kind`.
fn provider_says(
    kind: ProviderEventKind,
    event_id: &str,
    n: u32,
    at: DateTime<Utc>,
) -> OrderCommand {
    apply(refund_webhook(kind, event_id, n, TOTAL), at)
}

fn retried(n: u32, of: u32, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundRequested {
        order_id: order_id(),
        owner: OWNER,
        refund_id: refund(n),
        payment_id: payment(1),
        amount: eur(TOTAL),
        reason: REMOVED,
        retry_of: Some(refund(of)),
        requested_at: at,
    }
}

fn seconds(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

#[test]
fn a_failed_refund_is_tried_again_thirty_seconds_later() {
    given::<Orders>(&refunding())
        .when(provider_says(FAILED, "evt-r1", 1, at(11)))
        .then(&[OrderEvent::RefundFailed {
            order_id: order_id(),
            owner: OWNER,
            refund_id: refund(1),
            provider_event_id: "evt-r1".into(),
            attempt: 1,
            retry_at: at(11) + seconds(30),
            failed_at: at(11),
        }]);
}

#[test]
fn a_refund_the_provider_refused_at_once_fails_without_a_provider_event() {
    given::<Orders>(&refunding())
        .when(OrderCommand::RefundRefused {
            refund_id: refund(1),
            at: at(10),
        })
        .then(&[refund_failed(1, "", 1, at(10))]);
}

#[test]
fn a_failed_refund_is_not_retried_before_its_time() {
    given::<Orders>(&failed_once())
        .when(OrderCommand::RetryRefunds {
            at: at(11) + seconds(29),
        })
        .then(&[]);
}

#[test]
fn a_failed_refund_is_retried_under_the_next_refund_id_naming_the_one_it_retries() {
    let retry_at = at(11) + seconds(30);
    given::<Orders>(&failed_once())
        .when(OrderCommand::RetryRefunds { at: retry_at })
        .then(&[retried(2, 1, retry_at)]);
    assert_eq!(
        refund(2),
        RefundId::parse("ref_2_ord-1").expect("a refund id")
    );
}

#[test]
fn a_retried_refund_is_not_retried_again() {
    given::<Orders>(&retrying())
        .when(OrderCommand::RetryRefunds { at: at(20) })
        .then(&[]);
}

#[test]
fn a_second_failure_of_the_same_money_waits_twice_as_long() {
    given::<Orders>(&retrying())
        .when(provider_says(FAILED, "evt-r2", 2, at(12)))
        .then(&[OrderEvent::RefundFailed {
            order_id: order_id(),
            owner: OWNER,
            refund_id: refund(2),
            provider_event_id: "evt-r2".into(),
            attempt: 2,
            retry_at: at(12) + seconds(60),
            failed_at: at(12),
        }]);
}

#[test]
fn the_backoff_doubles_up_to_an_hour() {
    let waits: Vec<i64> = (1..=9)
        .map(|attempt| refund_backoff(attempt).num_seconds())
        .collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(refund_backoff(u32::MAX), TimeDelta::hours(1));
}

#[test]
fn a_refund_that_succeeded_is_recorded_once() {
    given::<Orders>(&refunding())
        .when(provider_says(SUCCEEDED, "evt-r1", 1, at(11)))
        .then(&[refund_succeeded(1, TOTAL, at(11))]);
    let mut history = refunding();
    history.push(refund_succeeded(1, TOTAL, at(11)));
    given::<Orders>(&history)
        .when(provider_says(SUCCEEDED, "evt-r1", 1, at(12)))
        .then(&[]);
}

#[test]
fn a_refund_that_fails_after_it_succeeded_is_owed_again() {
    // A card closed after the refund went out: the provider reports the failure last, and the
    // failure wins, the money counted as refunded no longer.
    let mut history = refunding();
    history.push(refund_succeeded(1, TOTAL, at(11)));
    given::<Orders>(&history)
        .when(provider_says(FAILED, "evt-r1-late", 1, at(12)))
        .then(&[refund_failed(1, "evt-r1-late", 1, at(12))]);
    history.push(refund_failed(1, "evt-r1-late", 1, at(12)));
    let domain::OrderState::Placed(order) = <Orders as domain::Decider>::fold(&history) else {
        panic!("a placed order");
    };
    let paid = order.paid().expect("a payment");
    assert_eq!(paid.refunded, 0);
    assert_eq!(
        order.payment_status(paid),
        domain::PaymentView::RefundFailed
    );
    // A repeat of the failure, or a stale success, changes nothing more.
    given::<Orders>(&history)
        .when(provider_says(FAILED, "evt-r1-late", 1, at(13)))
        .then(&[]);
    given::<Orders>(&history)
        .when(provider_says(SUCCEEDED, "evt-r1-again", 1, at(13)))
        .then(&[]);
}

#[test]
fn a_refund_event_for_a_refund_never_asked_for_is_refused() {
    given::<Orders>(&refunding())
        .when(provider_says(SUCCEEDED, "evt-r9", 9, at(11)))
        .then_error(OrderError::RefundNotFound);
    let without_refund = ProviderEvent {
        refund_id: None,
        ..refund_webhook(SUCCEEDED, "evt-r1", 1, TOTAL)
    };
    given::<Orders>(&refunding())
        .when(apply(without_refund, at(11)))
        .then_error(OrderError::RefundNotFound);
}

#[test]
fn a_refund_event_for_another_amount_is_refused() {
    given::<Orders>(&refunding())
        .when(apply(
            refund_webhook(SUCCEEDED, "evt-r1", 1, TOTAL - 1),
            at(11),
        ))
        .then_error(OrderError::AmountMismatch);
}
