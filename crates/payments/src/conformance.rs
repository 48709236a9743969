//! The conformance suite: what every payment adapter must prove, end to end, through its
//! webhooks. Each check is a plain async function over a provider and a [`WebhookSink`] the
//! provider delivers to; [`run`] runs them all at once, and
//! [`conformance_tests!`](crate::conformance_tests) makes one test of each.
//!
//! Nothing here knows the simulator. The checks pay with the [test tokens](crate#test-tokens);
//! an adapter for a real provider, run against its sandbox, maps each to the sandbox's test
//! card with the same behaviour. A sandbox that cannot provoke a behaviour (few can duplicate
//! a webhook on demand) lists its checks by hand instead of using the macro, and says which
//! it leaves out and why.
//!
//! Every check uses fresh ids, so checks may share a provider and a sink and run at once.
//! Waits are bounded ([`WAIT`]); the only timed assertion is that a delayed payment does not
//! succeed before its delay. That nothing more arrives is judged after [`QUIET`].

mod payments;
mod refunds;
mod sink;

pub use payments::*;
pub use refunds::*;
pub use sink::{Delivery, WAIT, WebhookSink};

use crate::webhook::{WebhookEvent, WebhookKind};
use crate::{PaymentProvider, PaymentRequest, ProviderError, RefundRequest};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// How long the suite listens for something that must not come.
pub const QUIET: Duration = Duration::from_secs(1);

/// The currency every check pays in, as our domain writes it.
const CURRENCY: &str = "EUR";

/// One adapter under test and the sink its provider delivers to.
pub trait Harness {
    type Provider: PaymentProvider;

    fn provider(&self) -> Self::Provider;

    fn sink(&self) -> &WebhookSink;
}

/// Generates one `#[tokio::test]` per check, each with its own harness from `$make`, a
/// future of a [`Harness`].
#[macro_export]
macro_rules! conformance_tests {
    // The internal rules first: `$make:expr` would try to parse `@each` and fail hard.
    (@each $make:expr;) => {};
    (@each $make:expr; $check:ident $(, $rest:ident)*) => {
        #[tokio::test]
        async fn $check() {
            use $crate::conformance::Harness as _;
            let harness = $make.await;
            $crate::conformance::$check(&harness.provider(), harness.sink()).await;
        }
        $crate::conformance_tests!(@each $make; $($rest),*);
    };
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            a_payment_succeeds_with_one_success,
            asking_twice_for_a_payment_sends_one_outcome,
            a_payment_id_reused_for_another_amount_is_rejected,
            a_declined_payment_fails,
            a_delayed_payment_succeeds_no_sooner_than_its_delay,
            a_duplicated_success_comes_three_times_around_a_stale_pending,
            an_unknown_token_is_rejected_and_sends_nothing,
            a_full_refund_succeeds,
            partial_refunds_succeed_up_to_the_amount_paid,
            a_refund_over_the_amount_paid_is_rejected,
            asking_twice_for_a_refund_refunds_once,
            every_refund_of_a_refund_fails_payment_fails,
            a_refund_of_an_unknown_payment_is_rejected,
            a_refund_of_a_declined_payment_is_rejected,
            a_failed_delivery_is_retried_with_the_same_event);
    };
}

/// Every check, at once, on one provider and sink.
pub async fn run<P: PaymentProvider>(provider: P, sink: &WebhookSink) {
    let p = &provider;
    tokio::join!(
        a_payment_succeeds_with_one_success(p, sink),
        asking_twice_for_a_payment_sends_one_outcome(p, sink),
        a_payment_id_reused_for_another_amount_is_rejected(p, sink),
        a_declined_payment_fails(p, sink),
        a_delayed_payment_succeeds_no_sooner_than_its_delay(p, sink),
        a_duplicated_success_comes_three_times_around_a_stale_pending(p, sink),
        an_unknown_token_is_rejected_and_sends_nothing(p, sink),
        a_full_refund_succeeds(p, sink),
        partial_refunds_succeed_up_to_the_amount_paid(p, sink),
        a_refund_over_the_amount_paid_is_rejected(p, sink),
        asking_twice_for_a_refund_refunds_once(p, sink),
        every_refund_of_a_refund_fails_payment_fails(p, sink),
        a_refund_of_an_unknown_payment_is_rejected(p, sink),
        a_refund_of_a_declined_payment_is_rejected(p, sink),
        a_failed_delivery_is_retried_with_the_same_event(p, sink),
    );
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

fn payment(token: &str, amount: i64) -> PaymentRequest {
    PaymentRequest {
        payment_id: new_id("pay"),
        amount,
        currency: CURRENCY.into(),
        token: token.into(),
    }
}

fn refund_of(payment: &PaymentRequest, amount: i64) -> RefundRequest {
    RefundRequest {
        refund_id: new_id("ref"),
        payment_id: payment.payment_id.clone(),
        amount,
        currency: payment.currency.clone(),
    }
}

/// The distinct events of `kind` (by event id), first arrivals first.
fn distinct(events: &[WebhookEvent], kind: WebhookKind) -> Vec<&WebhookEvent> {
    let mut seen = HashSet::new();
    let of_kind = events.iter().filter(|e| e.kind == kind);
    of_kind.filter(|e| seen.insert(&e.event_id)).collect()
}

fn has(kind: WebhookKind) -> impl Fn(&[WebhookEvent]) -> bool {
    move |events| events.iter().any(|e| e.kind == kind)
}

/// Pays `amount` with `token` and waits for the success.
async fn paid<P: PaymentProvider>(
    provider: &P,
    sink: &WebhookSink,
    token: &str,
    amount: i64,
) -> PaymentRequest {
    let payment = payment(token, amount);
    provider
        .request_payment(&payment)
        .await
        .expect("payment accepted");
    let succeeded = has(WebhookKind::PaymentSucceeded);
    sink.events_until(&payment.payment_id, "success", succeeded)
        .await;
    payment
}

fn assert_rejected(result: Result<(), ProviderError>, what: &str) {
    assert!(
        matches!(result, Err(ProviderError::Rejected(_))),
        "{what}: expected Rejected, got {result:?}"
    );
}

fn assert_no_refusals(sink: &WebhookSink) {
    assert_eq!(
        sink.refusals(),
        Vec::<String>::new(),
        "badly signed deliveries"
    );
}
