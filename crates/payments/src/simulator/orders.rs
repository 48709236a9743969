//! Requests the simulator has checked: a [`PaymentOrder`] or [`RefundOrder`] exists only if
//! every field is acceptable, so the ledger never re-checks one.

use super::refusal::Refusal;
use super::tokens::{Behaviour, TokenError};
use crate::{PaymentRequest, RefundRequest};

/// Longer ids are refused rather than stored: the simulator keeps every one in memory.
const MAX_ID_BYTES: usize = 255;

/// A payment request with a known test token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PaymentOrder {
    pub request: PaymentRequest,
    pub behaviour: Behaviour,
}

/// A refund request with sound fields; whether its payment allows it is the ledger's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RefundOrder(pub RefundRequest);

impl TryFrom<PaymentRequest> for PaymentOrder {
    type Error = Refusal;

    fn try_from(request: PaymentRequest) -> Result<Self, Refusal> {
        let mut problems = Problems::default();
        problems.id("payment_id", &request.payment_id);
        problems.amount(request.amount);
        problems.currency(&request.currency);
        problems.finish()?;
        let behaviour = Behaviour::of(&request.token).map_err(|e| match e {
            TokenError::Unknown => Refusal::UnknownToken,
            TokenError::BadDelay => Refusal::BadDelay,
        })?;
        Ok(Self { request, behaviour })
    }
}

impl TryFrom<RefundRequest> for RefundOrder {
    type Error = Refusal;

    fn try_from(request: RefundRequest) -> Result<Self, Refusal> {
        let mut problems = Problems::default();
        problems.id("refund_id", &request.refund_id);
        problems.id("payment_id", &request.payment_id);
        problems.amount(request.amount);
        problems.currency(&request.currency);
        problems.finish()?;
        Ok(Self(request))
    }
}

/// Every invalid field of one request, so a caller learns them all in one answer.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn id(&mut self, field: &str, id: &str) {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            self.0
                .push(format!("{field} must be 1 to {MAX_ID_BYTES} bytes"));
        }
    }

    fn amount(&mut self, amount: i64) {
        if amount <= 0 {
            self.0
                .push("amount must be a positive number of minor units".into());
        }
    }

    fn currency(&mut self, currency: &str) {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.0
                .push("currency must be a three-letter ISO 4217 code".into());
        }
    }

    fn finish(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Malformed(self.0.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(token: &str) -> PaymentRequest {
        PaymentRequest {
            payment_id: "pay_1".into(),
            amount: 1250,
            currency: "EUR".into(),
            token: token.into(),
        }
    }

    #[test]
    fn a_sound_payment_with_a_test_token_is_an_order() {
        let order = PaymentOrder::try_from(payment("tok_decline")).expect("sound");
        assert_eq!(order.behaviour, Behaviour::Decline);
    }

    #[test]
    fn every_invalid_field_of_a_payment_is_listed_at_once() {
        let request = PaymentRequest {
            payment_id: String::new(),
            amount: 0,
            currency: "EURO".into(),
            token: "tok_success".into(),
        };
        assert_eq!(
            PaymentOrder::try_from(request),
            Err(Refusal::Malformed(
                "payment_id must be 1 to 255 bytes; amount must be a positive number of minor \
                 units; currency must be a three-letter ISO 4217 code"
                    .into()
            ))
        );
    }

    #[test]
    fn an_unknown_or_badly_delayed_token_is_refused() {
        assert_eq!(
            PaymentOrder::try_from(payment("tok_nope")),
            Err(Refusal::UnknownToken)
        );
        assert_eq!(
            PaymentOrder::try_from(payment("tok_delayed_soon")),
            Err(Refusal::BadDelay)
        );
    }

    #[test]
    fn a_refund_needs_both_ids_a_positive_amount_and_a_currency() {
        let request = RefundRequest {
            refund_id: "r".repeat(256),
            payment_id: "pay_1".into(),
            amount: -5,
            currency: "E1R".into(),
        };
        let Err(Refusal::Malformed(message)) = RefundOrder::try_from(request) else {
            panic!("a refund with three bad fields is malformed");
        };
        assert_eq!(message.matches("must be").count(), 3, "{message}");
        assert!(message.starts_with("refund_id"), "{message}");
    }
}
