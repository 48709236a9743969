//! Webhook delivery, at least once: each event is POSTed, signed afresh at each attempt, and
//! tried again with backoff until the receiver answers 2xx or the attempts run out. A real
//! provider does the same, so a receiver must take repeats (same `event_id`) in its stride.

use super::Settings;
use crate::webhook::{self, SIGNATURE_HEADER, WebhookEvent, WebhookSecret};
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one attempt may take, answer included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// 100 ms doubling to at most 3 s, 10 retries: a receiver down for about 20 s still gets
/// every event; one down for longer has to reconcile.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(3))
        .with_max_times(10)
}

/// Posts webhooks to the one URL the simulator was given.
#[derive(Clone)]
pub(super) struct Courier {
    http: reqwest::Client,
    url: Arc<str>,
    secret: WebhookSecret,
}

/// Why one attempt failed. Neither variant holds the body.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("the receiver answered {0}")]
    Refused(StatusCode),
    #[error("no answer from the receiver")]
    Unreachable(#[source] reqwest::Error),
}

impl Courier {
    pub(super) fn new(settings: Settings) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: settings.webhook_url.into(),
            secret: settings.secret,
        }
    }

    /// Delivers `events` one after another, each once delivered or given up, so their
    /// order of arrival is the order given.
    pub(super) async fn deliver_all(&self, events: &[WebhookEvent]) {
        for event in events {
            self.deliver(event).await;
        }
    }

    #[tracing::instrument(skip_all, fields(event.id = %event.event_id, payment.id = %event.payment_id))]
    async fn deliver(&self, event: &WebhookEvent) {
        let body = match serde_json::to_vec(event) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                tracing::error!(error = %e, "webhook event not serialisable; dropped");
                return;
            }
        };
        let attempts = AtomicUsize::new(0);
        let delivered = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&body).await
        })
        .retry(backoff())
        .notify(|error, wait| {
            tracing::warn!(
                attempt = attempts.load(Ordering::Relaxed),
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error_chain(error),
                "webhook delivery failed; retrying"
            );
        })
        .await;
        let attempts = attempts.into_inner();
        match delivered {
            Ok(()) => tracing::debug!(attempts, "webhook delivered"),
            Err(e) => tracing::error!(
                attempts,
                error = %error_chain(&e),
                "webhook delivery given up"
            ),
        }
    }

    async fn attempt(&self, body: &Bytes) -> Result<(), AttemptError> {
        let signature = webhook::sign(&self.secret, Utc::now(), body);
        let response = self
            .http
            .post(&*self.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await
            // The URL is configuration, not news, and may carry a token of the receiver's.
            .map_err(|e| AttemptError::Unreachable(e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(AttemptError::Refused(status))
        }
    }
}

/// The error and its causes on one line: reqwest says little until its source is shown.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
