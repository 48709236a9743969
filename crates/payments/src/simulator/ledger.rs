//! What the simulator remembers of payments and refunds, and the rules it decides them by:
//! idempotency by our ids, refunds only of succeeded payments and never of more than is left.
//!
//! Synchronous, and time comes in as an argument, so every rule is tested here without HTTP;
//! the routes only schedule what it decides.

use super::orders::{PaymentOrder, RefundOrder};
use super::refusal::Refusal;
use super::tokens::Behaviour;
use crate::webhook::{WebhookEvent, WebhookKind};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;
use uuid::Uuid;

/// Every payment and refund accepted since start-up.
#[derive(Default)]
pub(super) struct Ledger {
    payments: HashMap<String, Payment>,
    refunds: HashMap<String, RefundOrder>,
}

struct Payment {
    order: PaymentOrder,
    accepted_at: DateTime<Utc>,
    status: Status,
    /// The sum of the refunds accepted and not failed, never more than the amount.
    refunded: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Succeeded,
    Failed,
}

impl Ledger {
    /// Accepts a payment. For a new one, the wait before [`settle`](Self::settle) decides
    /// it; `None` for the same request again, which changes and sends nothing.
    pub(super) fn request_payment(
        &mut self,
        order: PaymentOrder,
        now: DateTime<Utc>,
    ) -> Result<Option<Duration>, Refusal> {
        match self.payments.entry(order.request.payment_id.clone()) {
            Entry::Occupied(seen) if seen.get().order == order => Ok(None),
            Entry::Occupied(_) => Err(Refusal::IdReused("payment_id")),
            Entry::Vacant(slot) => {
                let wait = match order.behaviour {
                    Behaviour::SucceedAfter(delay) => delay,
                    _ => Duration::ZERO,
                };
                slot.insert(Payment {
                    order,
                    accepted_at: now,
                    status: Status::Pending,
                    refunded: 0,
                });
                Ok(Some(wait))
            }
        }
    }

    /// Decides a pending payment by its token, returning the webhooks to deliver, in
    /// order; none if it is unknown or decided already.
    pub(super) fn settle(&mut self, payment_id: &str, now: DateTime<Utc>) -> Vec<WebhookEvent> {
        let Some(payment) = self.payments.get_mut(payment_id) else {
            return Vec::new();
        };
        if payment.status != Status::Pending {
            return Vec::new();
        }
        // Strictly after the acceptance even if the clock stepped back, so that the stale
        // pending of `tok_duplicate` is always older than the success.
        let at = now.max(payment.accepted_at + TimeDelta::microseconds(1));
        let request = &payment.order.request;
        let event = |kind, created_at| WebhookEvent {
            event_id: new_event_id(),
            kind,
            payment_id: request.payment_id.clone(),
            refund_id: None,
            amount: request.amount,
            currency: request.currency.clone(),
            created_at,
        };
        let (status, events) = match payment.order.behaviour {
            Behaviour::Decline => (Status::Failed, vec![event(WebhookKind::PaymentFailed, at)]),
            Behaviour::Duplicate => {
                let succeeded = event(WebhookKind::PaymentSucceeded, at);
                let stale = event(WebhookKind::PaymentPending, payment.accepted_at);
                let events = vec![succeeded.clone(), stale, succeeded.clone(), succeeded];
                (Status::Succeeded, events)
            }
            Behaviour::Succeed | Behaviour::SucceedAfter(_) | Behaviour::RefundsFail => (
                Status::Succeeded,
                vec![event(WebhookKind::PaymentSucceeded, at)],
            ),
        };
        payment.status = status;
        events
    }

    /// Accepts and decides a refund at once, returning its webhook; `None` for the same
    /// request again.
    pub(super) fn refund(
        &mut self,
        order: RefundOrder,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookEvent>, Refusal> {
        let request = &order.0;
        if let Some(seen) = self.refunds.get(&request.refund_id) {
            return if *seen == order {
                Ok(None)
            } else {
                Err(Refusal::IdReused("refund_id"))
            };
        }
        let payment = self
            .payments
            .get_mut(&request.payment_id)
            .ok_or(Refusal::UnknownPayment)?;
        if !payment
            .order
            .request
            .currency
            .eq_ignore_ascii_case(&request.currency)
        {
            return Err(Refusal::CurrencyMismatch);
        }
        if payment.status != Status::Succeeded {
            return Err(Refusal::NotRefundable);
        }
        let left = payment.order.request.amount - payment.refunded;
        if request.amount > left {
            return Err(Refusal::RefundTooLarge { left });
        }
        let kind = if payment.order.behaviour == Behaviour::RefundsFail {
            WebhookKind::RefundFailed
        } else {
            payment.refunded += request.amount;
            WebhookKind::RefundSucceeded
        };
        let event = WebhookEvent {
            event_id: new_event_id(),
            kind,
            payment_id: request.payment_id.clone(),
            refund_id: Some(request.refund_id.clone()),
            amount: request.amount,
            currency: request.currency.clone(),
            created_at: now,
        };
        self.refunds.insert(request.refund_id.clone(), order);
        Ok(Some(event))
    }
}

/// Time-ordered, so the ids of one payment's events sort as they happened.
fn new_event_id() -> String {
    format!("evt_{}", Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PaymentRequest, RefundRequest};

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).expect("in range")
    }

    fn order(payment_id: &str, token: &str) -> PaymentOrder {
        PaymentOrder::try_from(PaymentRequest {
            payment_id: payment_id.into(),
            amount: 1000,
            currency: "EUR".into(),
            token: token.into(),
        })
        .expect("a sound payment")
    }

    fn refund(refund_id: &str, amount: i64) -> RefundOrder {
        RefundOrder::try_from(RefundRequest {
            refund_id: refund_id.into(),
            payment_id: "pay_1".into(),
            amount,
            currency: "EUR".into(),
        })
        .expect("a sound refund")
    }

    /// A ledger holding `pay_1` of 1000 EUR with `token`, accepted at 0 and settled at
    /// `settled_at`, and the events settling it sent.
    fn settled(token: &str, settled_at: DateTime<Utc>) -> (Ledger, Vec<WebhookEvent>) {
        let mut ledger = Ledger::default();
        ledger
            .request_payment(order("pay_1", token), at(0))
            .expect("accepted");
        let events = ledger.settle("pay_1", settled_at);
        (ledger, events)
    }

    fn paid(token: &str) -> Ledger {
        settled(token, at(1)).0
    }

    fn kinds(events: &[WebhookEvent]) -> Vec<WebhookKind> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_new_payment_settles_at_once_unless_delayed() {
        let mut ledger = Ledger::default();
        let now = ledger.request_payment(order("pay_1", "tok_success"), at(0));
        let later = ledger.request_payment(order("pay_2", "tok_delayed_2500"), at(0));
        assert_eq!(now, Ok(Some(Duration::ZERO)));
        assert_eq!(later, Ok(Some(Duration::from_millis(2500))));
    }

    #[test]
    fn the_same_payment_again_is_accepted_and_settles_nothing_new() {
        let mut ledger = paid("tok_success");
        let again = ledger.request_payment(order("pay_1", "tok_success"), at(2));
        assert_eq!(again, Ok(None));
        assert!(ledger.settle("pay_1", at(3)).is_empty());
    }

    #[test]
    fn a_payment_id_reused_with_other_fields_is_refused() {
        let mut ledger = paid("tok_success");
        let other_token = ledger.request_payment(order("pay_1", "tok_decline"), at(2));
        assert_eq!(other_token, Err(Refusal::IdReused("payment_id")));
    }

    #[test]
    fn a_success_carries_the_payment_and_when_it_happened() {
        let (_, events) = settled("tok_success", at(7));
        assert_eq!(kinds(&events), [WebhookKind::PaymentSucceeded]);
        let event = &events[0];
        assert_eq!((event.amount, event.currency.as_str()), (1000, "EUR"));
        assert_eq!(
            (event.payment_id.as_str(), &event.refund_id),
            ("pay_1", &None)
        );
        assert_eq!(event.created_at, at(7));
        assert!(event.event_id.starts_with("evt_"), "{}", event.event_id);
    }

    #[test]
    fn a_decline_fails_the_payment() {
        let (_, events) = settled("tok_decline", at(1));
        assert_eq!(kinds(&events), [WebhookKind::PaymentFailed]);
    }

    #[test]
    fn a_duplicate_repeats_one_success_around_an_older_pending() {
        let (_, events) = settled("tok_duplicate", at(0));
        use WebhookKind::{PaymentPending, PaymentSucceeded};
        assert_eq!(
            kinds(&events),
            [
                PaymentSucceeded,
                PaymentPending,
                PaymentSucceeded,
                PaymentSucceeded
            ]
        );
        assert_eq!(events[0], events[2]);
        assert_eq!(events[0], events[3]);
        assert_ne!(events[1].event_id, events[0].event_id);
        // Settled in the same instant as accepted, the success is still the later one.
        assert!(events[1].created_at < events[0].created_at);
    }

    #[test]
    fn a_refund_of_a_succeeded_payment_succeeds_with_its_own_amount_and_id() {
        let mut ledger = paid("tok_success");
        let event = ledger
            .refund(refund("ref_1", 400), at(5))
            .expect("accepted")
            .expect("new");
        assert_eq!(event.kind, WebhookKind::RefundSucceeded);
        assert_eq!(event.refund_id.as_deref(), Some("ref_1"));
        assert_eq!((event.amount, event.created_at), (400, at(5)));
    }

    #[test]
    fn refunds_together_may_not_exceed_the_payment() {
        let mut ledger = paid("tok_success");
        ledger.refund(refund("ref_1", 600), at(2)).expect("first");
        let over = ledger.refund(refund("ref_2", 401), at(3));
        assert_eq!(over, Err(Refusal::RefundTooLarge { left: 400 }));
        let rest = ledger.refund(refund("ref_2", 400), at(4));
        assert!(matches!(rest, Ok(Some(_))), "{rest:?}");
    }

    #[test]
    fn the_same_refund_again_counts_once_and_sends_nothing() {
        let mut ledger = paid("tok_success");
        ledger.refund(refund("ref_1", 1000), at(2)).expect("first");
        assert_eq!(ledger.refund(refund("ref_1", 1000), at(3)), Ok(None));
    }

    #[test]
    fn a_refund_id_reused_with_other_fields_is_refused() {
        let mut ledger = paid("tok_success");
        ledger.refund(refund("ref_1", 100), at(2)).expect("first");
        let other = ledger.refund(refund("ref_1", 200), at(3));
        assert_eq!(other, Err(Refusal::IdReused("refund_id")));
    }

    #[test]
    fn a_failed_refund_leaves_the_amount_refundable() {
        let mut ledger = paid("tok_refund_fails");
        for id in ["ref_1", "ref_2"] {
            let event = ledger.refund(refund(id, 1000), at(2)).expect("accepted");
            assert_eq!(
                event.map(|e| e.kind),
                Some(WebhookKind::RefundFailed),
                "{id}"
            );
        }
    }

    #[test]
    fn only_a_succeeded_payment_can_be_refunded() {
        let mut declined = paid("tok_decline");
        assert_eq!(
            declined.refund(refund("ref_1", 1), at(2)),
            Err(Refusal::NotRefundable)
        );
        let mut pending = Ledger::default();
        pending
            .request_payment(order("pay_1", "tok_delayed_1000"), at(0))
            .expect("accepted");
        assert_eq!(
            pending.refund(refund("ref_1", 1), at(0)),
            Err(Refusal::NotRefundable)
        );
    }

    #[test]
    fn a_refund_of_an_unknown_payment_or_in_another_currency_is_refused() {
        let mut ledger = Ledger::default();
        assert_eq!(
            ledger.refund(refund("ref_1", 1), at(0)),
            Err(Refusal::UnknownPayment)
        );
        let mut ledger = paid("tok_success");
        let mut dollars = refund("ref_1", 1);
        dollars.0.currency = "USD".into();
        assert_eq!(
            ledger.refund(dollars, at(2)),
            Err(Refusal::CurrencyMismatch)
        );
    }
}
