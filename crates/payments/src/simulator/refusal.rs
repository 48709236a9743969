//! The simulator's refusals and how they answer: one enum for the whole HTTP API, so each
//! status and code in the module docs' table is written down once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why the simulator refuses a request. Every one is final: the same request again is
/// refused again (the client maps them all to `Rejected`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("unknown test token")]
    UnknownToken,
    #[error("tok_delayed_<ms> takes a whole number of milliseconds up to 600000")]
    BadDelay,
    #[error("the refund's currency is not the payment's")]
    CurrencyMismatch,
    #[error("no such payment")]
    UnknownPayment,
    #[error("this {0} was used before with other fields")]
    IdReused(&'static str),
    #[error("the payment has not succeeded")]
    NotRefundable,
    #[error("the refund is more than the {left} left to refund")]
    RefundTooLarge { left: i64 },
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) | Self::UnknownToken | Self::BadDelay | Self::CurrencyMismatch => {
                StatusCode::BAD_REQUEST
            }
            Self::UnknownPayment => StatusCode::NOT_FOUND,
            Self::IdReused(_) | Self::NotRefundable | Self::RefundTooLarge { .. } => {
                StatusCode::CONFLICT
            }
        }
    }

    /// Stable, for a client that tells refusals apart.
    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownToken => "unknown_token",
            Self::BadDelay => "bad_delay",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::UnknownPayment => "unknown_payment",
            Self::IdReused(_) => "id_reused",
            Self::NotRefundable => "not_refundable",
            Self::RefundTooLarge { .. } => "refund_too_large",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
