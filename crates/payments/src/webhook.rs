//! What the provider POSTs back, and how we know the provider sent it.
//!
//! A webhook endpoint is public: anyone can POST to it. So every delivery carries a signature,
//! an HMAC-SHA256 keyed with a secret only we and the provider hold, over the signing time and
//! the raw body (the scheme Stripe uses). The time is inside the MAC, so an old delivery
//! replayed by someone who captured it is refused once it is older than [`TOLERANCE`]; within
//! that window the receiver's dedup by `event_id` makes a replay harmless.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The body the provider POSTs: `{"event_id","type","payment_id","amount","currency",
/// "created_at"}` plus an optional `"refund_id"` for refund events.
///
/// Deliveries are at least once and in no particular order: the same `event_id` may arrive
/// again, and an older event after a newer one (compare `created_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The provider's, unique per event and kept across re-deliveries: the dedup key.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// Ours, from the [`PaymentRequest`](crate::PaymentRequest).
    pub payment_id: String,
    /// Ours, from the [`RefundRequest`](crate::RefundRequest), on refund events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The payment's amount, or for a refund event the refund's, in minor units.
    pub amount: i64,
    pub currency: String,
    /// When the outcome happened at the provider, not when it was delivered.
    pub created_at: DateTime<Utc>,
}

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookKind {
    /// Accepted, no outcome yet. Never moves a settled payment back.
    #[serde(rename = "payment.pending")]
    PaymentPending,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded,
    #[serde(rename = "refund.failed")]
    RefundFailed,
}

/// Header name `Payment-Signature`; value `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<raw body>" keyed with the secret>`.
pub const SIGNATURE_HEADER: &str = "Payment-Signature";

/// How far the signing time may be from the receiver's clock, either way.
pub const TOLERANCE: TimeDelta = TimeDelta::seconds(300);

/// The key webhooks are signed with. Its `Debug` never shows it, so it can sit in settings
/// structs that get logged.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl From<String> for WebhookSecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

/// Parsing, for settings read from flags and the environment: an empty secret is a
/// misconfiguration (anyone could sign), refused at start-up rather than at the first webhook.
impl std::str::FromStr for WebhookSecret {
    type Err = EmptySecret;

    fn from_str(secret: &str) -> Result<Self, EmptySecret> {
        if secret.is_empty() {
            Err(EmptySecret)
        } else {
            Ok(Self(secret.to_owned()))
        }
    }
}

/// An empty webhook secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is empty")]
pub struct EmptySecret;

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// The MAC over `"<t>.<body>"`, ready for the body's bytes.
    fn mac(&self, t: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length (a long one is hashed first): this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The [`SIGNATURE_HEADER`] value for `body`, signed at `at`.
pub fn sign(secret: &WebhookSecret, at: DateTime<Utc>, body: &[u8]) -> String {
    let t = at.timestamp();
    let digest = secret.mac(t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(digest))
}

/// Why a delivery is not believed to come from the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no {SIGNATURE_HEADER} header")]
    Missing,
    #[error("the {SIGNATURE_HEADER} header is malformed")]
    Malformed,
    #[error("no signature matches the body")]
    Mismatch,
    #[error("the signature's time is more than {} s from now", TOLERANCE.num_seconds())]
    Stale,
}

/// Checks that `body` was signed with `secret` within [`TOLERANCE`] of `now` (either way).
///
/// The header may carry several `v1=` entries (the provider signs with the old and the new
/// secret while a secret is rotated); one match is enough. Entries of other schemes are
/// ignored. The comparison is constant-time, so timing tells an attacker nothing about how
/// close a forged signature came.
pub fn verify(
    secret: &WebhookSecret,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "t" => return Err(SignatureError::Malformed),
            // A v1 that is not hex cannot match; others in the header still may.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mac = secret.mac(t, body);
    if !signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let age = now.timestamp().checked_sub(t).map(i64::unsigned_abs);
    match age {
        Some(age) if age <= TOLERANCE.num_seconds().unsigned_abs() => Ok(()),
        _ => Err(SignatureError::Stale),
    }
}
