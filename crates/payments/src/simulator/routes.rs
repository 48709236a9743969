//! The simulator's HTTP API: each handler parses its body, lets the [`Ledger`] decide, answers
//! at once, and leaves the outcome to a task of its own, as a real provider answers before
//! the bank does.

use super::Settings;
use super::delivery::Courier;
use super::ledger::Ledger;
use super::orders::{PaymentOrder, RefundOrder};
use super::refusal::Refusal;
use crate::{PaymentRequest, RefundRequest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Both bodies are a few short fields; anything much larger is not one of them.
const BODY_LIMIT: usize = 16 * 1024;

struct Simulator {
    ledger: Mutex<Ledger>,
    courier: Courier,
    /// Stops the outcome and delivery tasks.
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Simulator {
    /// Runs `work` on its own task, tracked, and dropped when the simulator stops.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        });
    }
}

pub(super) fn router(
    settings: Settings,
    stop: CancellationToken,
    tasks: TaskTracker,
) -> axum::Router {
    let simulator = Arc::new(Simulator {
        ledger: Mutex::new(Ledger::default()),
        courier: Courier::new(settings),
        stop,
        tasks,
    });
    axum::Router::new()
        .route("/v1/payments", post(request_payment))
        .route("/v1/refunds", post(refund))
        // For container healthchecks: it answers once it listens.
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(simulator)
}

/// What every accepted request answers, new or repeated: the outcome comes by webhook.
struct Pending;

impl IntoResponse for Pending {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "status": "pending" });
        (StatusCode::ACCEPTED, Json(body)).into_response()
    }
}

/// Any body is read as JSON, whatever its Content-Type says.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::Malformed(e.to_string()))
}

async fn request_payment(
    State(simulator): State<Arc<Simulator>>,
    body: Bytes,
) -> Result<Pending, Refusal> {
    let order = PaymentOrder::try_from(parse::<PaymentRequest>(&body)?)?;
    let payment_id = order.request.payment_id.clone();
    let settle_after = simulator
        .ledger
        .lock()
        .await
        .request_payment(order, Utc::now())?;
    let Some(wait) = settle_after else {
        tracing::debug!(payment.id = %payment_id, "payment asked for again; nothing new");
        return Ok(Pending);
    };
    tracing::info!(payment.id = %payment_id, settle_in_ms = wait.as_millis(), "payment accepted");
    let outcome = Arc::clone(&simulator);
    simulator.spawn(async move {
        tokio::time::sleep(wait).await;
        let events = outcome.ledger.lock().await.settle(&payment_id, Utc::now());
        outcome.courier.deliver_all(&events).await;
    });
    Ok(Pending)
}

async fn refund(State(simulator): State<Arc<Simulator>>, body: Bytes) -> Result<Pending, Refusal> {
    let order = RefundOrder::try_from(parse::<RefundRequest>(&body)?)?;
    let refund_id = order.0.refund_id.clone();
    let decided = simulator.ledger.lock().await.refund(order, Utc::now())?;
    let Some(event) = decided else {
        tracing::debug!(refund.id = %refund_id, "refund asked for again; nothing new");
        return Ok(Pending);
    };
    tracing::info!(refund.id = %refund_id, payment.id = %event.payment_id, "refund accepted");
    let courier = simulator.courier.clone();
    simulator.spawn(async move { courier.deliver_all(&[event]).await });
    Ok(Pending)
}
