//! The gateway's refusals: the HTTP kit's, plus the two only a gateway gives, 429 over the
//! rate limit and 504 when the command API did not answer in time.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_kit::{ApiError, detail_response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The command API did not answer in time.
    #[error("upstream timed out")]
    UpstreamTimeout,
    /// Over the per-client rate limit; retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::UpstreamTimeout => detail_response(
                StatusCode::GATEWAY_TIMEOUT,
                json!("Upstream service timed out, please retry"),
                None,
            ),
            Self::RateLimited { retry_after_secs } => detail_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!("Too many requests, please slow down"),
                Some(retry_after_secs),
            ),
        }
    }
}
