//! The payment-provider port: the one door through which the system asks for money and gives
//! it back, and the webhooks through which the provider answers.
//!
//! A payment or refund is asynchronous, as with every real provider: asking is accepted at
//! once and the outcome arrives later as a signed [`webhook`]. Each request carries an id of
//! ours that is also its idempotency key, so a request retried after a timeout charges or
//! refunds nothing twice. Card data never enters the system: a client hands the provider its
//! card and gives us only the provider's token.
//!
//! Adapters: [`simulator::Client`], for an in-repo [`simulator`] that behaves like a real
//! provider. [`AnyProvider`] picks one at start-up. `STRIPE.md` maps the port onto a
//! Stripe-like API for the adapter that comes next; with the `testing` feature, the
//! [`conformance`] suite checks that an adapter keeps the contract.
//!
//! # Test tokens
//!
//! The simulator knows no cards, only these tokens; a real adapter's test harness maps each
//! to its sandbox's test card with the same behaviour.
//!
//! | token | what happens |
//! |---|---|
//! | `tok_success` | `payment.succeeded` at once (after the 202) |
//! | `tok_decline` | `payment.failed` |
//! | `tok_delayed_<ms>` | `payment.succeeded` after `<ms>` milliseconds (at most 600000; a bad number is refused) |
//! | `tok_duplicate` | succeeds; `payment.succeeded` is delivered three times with the same `event_id`, and a stale `payment.pending` (its own `event_id`, an earlier `created_at`) arrives after the first of them |
//! | `tok_refund_fails` | the payment succeeds, but every refund of it ends `refund.failed` |
//! | anything else | refused at once: [`ProviderError::Rejected`]`("unknown test token")` |
//!
//! A refund of a payment made with any other token ends `refund.succeeded`.

mod any;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod simulator;
pub mod webhook;

pub use any::{AnyProvider, ProviderKind, UnknownProviderKind};

use serde::{Deserialize, Serialize};

/// A payment to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// Ours (e.g. `pay_...`): the idempotency key, echoed in every webhook of the payment.
    pub payment_id: String,
    /// In minor units of `currency`.
    pub amount: i64,
    /// ISO 4217, as our domain writes it; an adapter translates it if its provider differs.
    pub currency: String,
    /// The provider's token for the payer's card, never the card itself.
    pub token: String,
}

/// A refund of part or all of a succeeded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Ours: the refund's idempotency key, echoed in its webhook.
    pub refund_id: String,
    pub payment_id: String,
    /// In minor units of `currency`, which must be the payment's.
    pub amount: i64,
    pub currency: String,
}

/// Why a request was not accepted, named for what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Refused at once, for good (unknown/malformed token, refund larger than what was paid,
    /// unknown payment): do not retry.
    #[error("refused by the provider: {0}")]
    Rejected(String),
    /// Not reachable or 5xx/timeout: retry later with the same idempotency key.
    #[error("provider unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A payment provider, as the order process sees it.
pub trait PaymentProvider: Clone + Send + Sync + 'static {
    /// Asks for a payment; Ok means accepted and pending: the outcome arrives later by webhook.
    /// Asking again with the same payment_id charges nothing twice and sends no second outcome.
    fn request_payment(
        &self,
        request: &PaymentRequest,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Asks for a refund of part or all of a succeeded payment; outcome by webhook
    /// (refund.succeeded / refund.failed). Idempotent by refund_id.
    fn refund(
        &self,
        request: &RefundRequest,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
