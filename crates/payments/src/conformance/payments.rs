//! The payment checks: one outcome per payment whatever happens on the way (repeated
//! requests, declines, delays, duplicated and out-of-order webhooks, failed deliveries).

use super::{
    Delivery, QUIET, WAIT, WebhookSink, assert_no_refusals, assert_rejected, distinct, has, payment,
};
use crate::webhook::{WebhookEvent, WebhookKind};
use crate::{PaymentProvider, PaymentRequest};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// Waits for the payment's outcome, then for [`QUIET`], and returns all its events.
async fn outcome_then_quiet(sink: &WebhookSink, payment: &PaymentRequest) -> Vec<WebhookEvent> {
    let id = &payment.payment_id;
    let settled = |events: &[WebhookEvent]| {
        has(WebhookKind::PaymentSucceeded)(events) || has(WebhookKind::PaymentFailed)(events)
    };
    sink.events_until(id, "outcome", settled).await;
    tokio::time::sleep(QUIET).await;
    sink.events(id)
}

/// Asserts exactly one outcome, of `kind`, with the payment's amount and currency, and no
/// other events but pending ones (which a real provider may send).
fn assert_one_outcome(events: &[WebhookEvent], payment: &PaymentRequest, kind: WebhookKind) {
    let outcomes: Vec<_> = [WebhookKind::PaymentSucceeded, WebhookKind::PaymentFailed]
        .into_iter()
        .flat_map(|k| distinct(events, k))
        .collect();
    assert_eq!(outcomes.len(), 1, "one outcome expected: {events:#?}");
    let outcome = outcomes[0];
    assert_eq!(outcome.kind, kind, "{events:#?}");
    assert_eq!(
        (
            outcome.amount,
            outcome.currency.as_str(),
            outcome.refund_id.as_deref()
        ),
        (payment.amount, payment.currency.as_str(), None),
        "{outcome:#?}"
    );
    let others = events
        .iter()
        .filter(|e| e.kind != WebhookKind::PaymentPending && e.event_id != outcome.event_id);
    assert_eq!(
        others.count(),
        0,
        "only pending besides the outcome: {events:#?}"
    );
}

pub async fn a_payment_succeeds_with_one_success<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_success", 1250);
    provider
        .request_payment(&payment)
        .await
        .expect("payment accepted");
    let events = outcome_then_quiet(sink, &payment).await;
    assert_one_outcome(&events, &payment, WebhookKind::PaymentSucceeded);
    assert_no_refusals(sink);
}

pub async fn asking_twice_for_a_payment_sends_one_outcome<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_success", 990);
    provider.request_payment(&payment).await.expect("first");
    provider.request_payment(&payment).await.expect("again");
    let events = outcome_then_quiet(sink, &payment).await;
    assert_one_outcome(&events, &payment, WebhookKind::PaymentSucceeded);
    provider
        .request_payment(&payment)
        .await
        .expect("again once settled");
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.events(&payment.payment_id), events, "nothing more");
}

pub async fn a_payment_id_reused_for_another_amount_is_rejected<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_success", 1000);
    provider.request_payment(&payment).await.expect("first");
    let other = PaymentRequest {
        amount: 2000,
        ..payment.clone()
    };
    assert_rejected(provider.request_payment(&other).await, "another amount");
    let events = outcome_then_quiet(sink, &payment).await;
    assert_one_outcome(&events, &payment, WebhookKind::PaymentSucceeded);
}

pub async fn a_declined_payment_fails<P: PaymentProvider>(provider: &P, sink: &WebhookSink) {
    let payment = payment("tok_decline", 4200);
    provider
        .request_payment(&payment)
        .await
        .expect("accepted, to fail later");
    let events = outcome_then_quiet(sink, &payment).await;
    assert_one_outcome(&events, &payment, WebhookKind::PaymentFailed);
}

pub async fn a_delayed_payment_succeeds_no_sooner_than_its_delay<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let delay = Duration::from_millis(1500);
    let payment = payment(&format!("tok_delayed_{}", delay.as_millis()), 700);
    let asked = Instant::now();
    provider.request_payment(&payment).await.expect("accepted");
    let succeeded = |deliveries: &[Delivery]| {
        deliveries
            .iter()
            .any(|d| d.accepted && d.event.kind == WebhookKind::PaymentSucceeded)
    };
    let deliveries = sink
        .wait_for(
            &payment.payment_id,
            "delayed success",
            delay + WAIT,
            succeeded,
        )
        .await;
    for delivery in &deliveries {
        if delivery.event.kind == WebhookKind::PaymentSucceeded {
            let after = delivery.received_at - asked;
            assert!(
                after >= delay,
                "succeeded after {after:?}, before {delay:?}"
            );
        }
    }
    let events: Vec<_> = deliveries.into_iter().map(|d| d.event).collect();
    assert_one_outcome(&events, &payment, WebhookKind::PaymentSucceeded);
}

pub async fn a_duplicated_success_comes_three_times_around_a_stale_pending<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_duplicate", 3300);
    provider.request_payment(&payment).await.expect("accepted");
    let events = sink
        .events_until(
            &payment.payment_id,
            "three successes and a pending",
            |events| {
                let successes = events
                    .iter()
                    .filter(|e| e.kind == WebhookKind::PaymentSucceeded);
                successes.count() >= 3 && has(WebhookKind::PaymentPending)(events)
            },
        )
        .await;
    let successes = distinct(&events, WebhookKind::PaymentSucceeded);
    assert_eq!(
        successes.len(),
        1,
        "one success, delivered again: {events:#?}"
    );
    let pendings = distinct(&events, WebhookKind::PaymentPending);
    assert_eq!(pendings.len(), 1, "{events:#?}");
    let (success, pending) = (successes[0], pendings[0]);
    assert_ne!(success.event_id, pending.event_id);
    assert!(
        pending.created_at < success.created_at,
        "the pending is stale: {events:#?}"
    );
    let position = |kind| events.iter().position(|e| e.kind == kind);
    assert!(
        position(WebhookKind::PaymentSucceeded) < position(WebhookKind::PaymentPending),
        "the stale pending arrives after the success: {events:#?}"
    );
    assert_one_outcome(&events, &payment, WebhookKind::PaymentSucceeded);
}

pub async fn an_unknown_token_is_rejected_and_sends_nothing<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_no_such_card", 500);
    assert_rejected(provider.request_payment(&payment).await, "unknown token");
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.deliveries(&payment.payment_id).len(), 0, "no webhook");
}

pub async fn a_failed_delivery_is_retried_with_the_same_event<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_success", 640);
    sink.fail_first(&payment.payment_id, 2);
    provider.request_payment(&payment).await.expect("accepted");
    let delivered = |deliveries: &[Delivery]| deliveries.iter().any(|d| d.accepted);
    let deliveries = sink
        .wait_for(&payment.payment_id, "a retried delivery", WAIT, delivered)
        .await;
    let refused = deliveries.iter().take_while(|d| !d.accepted).count();
    assert_eq!(refused, 2, "two refused, then delivered: {deliveries:#?}");
    let ids: HashSet<_> = deliveries.iter().map(|d| &d.event.event_id).collect();
    assert_eq!(
        ids.len(),
        1,
        "a re-delivery keeps its event id: {deliveries:#?}"
    );
}
