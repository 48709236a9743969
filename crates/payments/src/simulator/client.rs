//! The adapter for the simulator: the port's two operations as calls to its HTTP API. A real
//! provider's adapter has the same shape (see `STRIPE.md`); only the wire format differs.

use crate::{PaymentProvider, PaymentRequest, ProviderError, RefundRequest};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long one call may take, answer included. A call that times out may still have been
/// taken; the caller retries with the same id, which the simulator recognises.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client adapter that talks to a running simulator (base URL, e.g.
/// `http://127.0.0.1:8090`). Connection errors, timeouts, 408, 429 and 5xx are
/// [`ProviderError::Unavailable`]; any other 4xx is [`ProviderError::Rejected`] with the
/// simulator's message.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: Arc<str>,
}

/// The body of a refusal.
#[derive(Deserialize)]
struct Refusal {
    message: String,
}

/// A status that says "not now" rather than "never".
#[derive(Debug, thiserror::Error)]
#[error("the provider answered {0}")]
struct Unavailable(StatusCode);

impl Client {
    /// Nothing is sent until the first call; a base URL that does not parse makes every call
    /// [`ProviderError::Unavailable`], since no answer was had.
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').into(),
        }
    }

    async fn post(&self, path: &str, body: &impl Serialize) -> Result<(), ProviderError> {
        let unavailable = |e: reqwest::Error| ProviderError::Unavailable(Box::new(e.without_url()));
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .timeout(TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retryable = [StatusCode::REQUEST_TIMEOUT, StatusCode::TOO_MANY_REQUESTS];
        if !status.is_client_error() || retryable.contains(&status) {
            return Err(ProviderError::Unavailable(Box::new(Unavailable(status))));
        }
        // A refusal whose body cannot be read is still a refusal: its status says so.
        let message = match response.json::<Refusal>().await {
            Ok(refusal) => refusal.message,
            Err(_) => status.to_string(),
        };
        Err(ProviderError::Rejected(message))
    }
}

impl PaymentProvider for Client {
    #[tracing::instrument(skip_all, fields(payment.id = %request.payment_id))]
    async fn request_payment(&self, request: &PaymentRequest) -> Result<(), ProviderError> {
        self.post("/v1/payments", request).await
    }

    #[tracing::instrument(skip_all, fields(refund.id = %request.refund_id, payment.id = %request.payment_id))]
    async fn refund(&self, request: &RefundRequest) -> Result<(), ProviderError> {
        self.post("/v1/refunds", request).await
    }
}
