//! The refund checks: refunds of part or all of a succeeded payment, never of more than was
//! paid, once per refund id, and failing for good where the test token says so.

use super::{QUIET, WebhookSink, assert_rejected, has, paid, payment, refund_of};
use crate::webhook::{WebhookEvent, WebhookKind};
use crate::{PaymentProvider, RefundRequest};
use std::collections::HashSet;

/// Asks for `refund`, which must be accepted, and waits for its outcome of `kind`. Only
/// that kind is waited for: with a real provider a refund may show `succeeded` before it
/// turns `failed` (see `STRIPE.md`).
async fn refunded<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
    refund: &RefundRequest,
    kind: WebhookKind,
) -> WebhookEvent {
    provider.refund(refund).await.expect("refund accepted");
    let outcome =
        |e: &WebhookEvent| e.kind == kind && e.refund_id.as_ref() == Some(&refund.refund_id);
    let what = format!("{kind:?} of {}", refund.refund_id);
    let events = sink
        .events_until(&refund.payment_id, &what, |events| {
            events.iter().any(outcome)
        })
        .await;
    let event = events.into_iter().find(outcome).expect("waited for it");
    assert_eq!(
        (event.amount, event.currency.as_str()),
        (refund.amount, refund.currency.as_str()),
        "{event:#?}"
    );
    event
}

pub async fn a_full_refund_succeeds<P: PaymentProvider>(provider: &P, sink: &WebhookSink) {
    let payment = paid(provider, sink, "tok_success", 2500).await;
    let refund = refund_of(&payment, payment.amount);
    refunded(provider, sink, &refund, WebhookKind::RefundSucceeded).await;
}

pub async fn partial_refunds_succeed_up_to_the_amount_paid<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = paid(provider, sink, "tok_success", 1000).await;
    for amount in [300, 700] {
        let refund = refund_of(&payment, amount);
        refunded(provider, sink, &refund, WebhookKind::RefundSucceeded).await;
    }
    let beyond = refund_of(&payment, 1);
    assert_rejected(provider.refund(&beyond).await, "nothing left to refund");
}

pub async fn a_refund_over_the_amount_paid_is_rejected<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = paid(provider, sink, "tok_success", 1000).await;
    let over = refund_of(&payment, payment.amount + 1);
    assert_rejected(provider.refund(&over).await, "over the amount");
    // The whole amount is still there.
    let all = refund_of(&payment, payment.amount);
    refunded(provider, sink, &all, WebhookKind::RefundSucceeded).await;
}

pub async fn asking_twice_for_a_refund_refunds_once<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = paid(provider, sink, "tok_success", 1000).await;
    let refund = refund_of(&payment, 600);
    provider.refund(&refund).await.expect("first");
    // `refunded` asks for the same refund a second time.
    refunded(provider, sink, &refund, WebhookKind::RefundSucceeded).await;
    // Counted once: the other 400 is still there, and no more.
    let rest = refund_of(&payment, 400);
    refunded(provider, sink, &rest, WebhookKind::RefundSucceeded).await;
    assert_rejected(
        provider.refund(&refund_of(&payment, 1)).await,
        "all refunded",
    );
    tokio::time::sleep(QUIET).await;
    let events = sink.events(&payment.payment_id);
    let mine = events.iter().filter(|e| {
        e.kind == WebhookKind::RefundSucceeded && e.refund_id.as_ref() == Some(&refund.refund_id)
    });
    let ids: HashSet<_> = mine.map(|e| &e.event_id).collect();
    assert_eq!(
        ids.len(),
        1,
        "one outcome for the refund asked twice: {events:#?}"
    );
}

pub async fn every_refund_of_a_refund_fails_payment_fails<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = paid(provider, sink, "tok_refund_fails", 1800).await;
    // A retry with a new refund id fails again, and a failed refund took nothing from what
    // is left, so the whole amount may be asked for each time.
    for _ in 0..2 {
        let refund = refund_of(&payment, payment.amount);
        refunded(provider, sink, &refund, WebhookKind::RefundFailed).await;
    }
}

pub async fn a_refund_of_an_unknown_payment_is_rejected<P: PaymentProvider>(
    provider: &P,
    _sink: &WebhookSink,
) {
    let never_asked = payment("tok_success", 1000);
    let refund = refund_of(&never_asked, 1000);
    assert_rejected(provider.refund(&refund).await, "unknown payment");
}

pub async fn a_refund_of_a_declined_payment_is_rejected<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
) {
    let payment = payment("tok_decline", 1000);
    provider.request_payment(&payment).await.expect("accepted");
    let failed = has(WebhookKind::PaymentFailed);
    sink.events_until(&payment.payment_id, "failure", failed)
        .await;
    let refund = refund_of(&payment, 1000);
    assert_rejected(provider.refund(&refund).await, "nothing was paid");
}
