//! A simulated payment provider that behaves like a real one, so the order process is built
//! and tested against the hard parts (asynchronous outcomes, signed webhooks, duplicate and
//! out-of-order deliveries, retries) before any real provider is wired in. It runs as its own
//! HTTP server ([`serve`], the `booking payment-simulator` command); [`Client`] is the adapter
//! that talks to it, the same way an adapter for a real provider would talk to that provider.
//!
//! # HTTP API
//!
//! - `POST /v1/payments` with `{"payment_id","amount","currency","token"}`: `202
//!   {"status":"pending"}` at once; the outcome follows by webhook, as the
//!   [test token](crate#test-tokens) says.
//! - `POST /v1/refunds` with `{"refund_id","payment_id","amount","currency"}`: `202
//!   {"status":"pending"}`; `refund.succeeded` or `refund.failed` follows by webhook.
//!
//! Both are idempotent by their id: the same request again answers 202 and sends nothing new.
//! Refusals answer `{"code","message"}`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `malformed` | the body is not the shape above, an id is empty or longer than 255 bytes, the amount is not positive, the currency not three letters |
//! | 400 | `unknown_token` | the token is none of the test tokens (`message` is `unknown test token`) |
//! | 400 | `bad_delay` | `tok_delayed_<ms>` with `<ms>` not a number of at most 600000 |
//! | 400 | `currency_mismatch` | a refund in another currency than its payment |
//! | 404 | `unknown_payment` | a refund of a payment the simulator has not seen |
//! | 409 | `id_reused` | a `payment_id` or `refund_id` seen before with other fields |
//! | 409 | `not_refundable` | a refund of a payment that has not succeeded (pending or failed) |
//! | 409 | `refund_too_large` | more than the payment's amount less the refunds accepted so far |
//!
//! # Webhooks
//!
//! Each outcome is POSTed to [`Settings::webhook_url`] as a [`WebhookEvent`] with a fresh
//! `event_id` (`evt_` and a UUID v7) and `created_at` the time the outcome happened, signed
//! with [`sign`](crate::webhook::sign) at each delivery attempt. A delivery that fails
//! (non-2xx or no connection) is tried again, keeping its `event_id`, with backoff.
//!
//! # State
//!
//! Payments and refunds live in memory: a restart forgets them, and a refund of a payment
//! made before it answers 404. Deliveries still pending at shutdown are dropped. It is a test
//! tool: nothing bounds how many payments it remembers.
//!
//! [`WebhookEvent`]: crate::webhook::WebhookEvent

mod client;
mod delivery;
mod ledger;
mod orders;
mod refusal;
mod routes;
mod tokens;

pub use client::Client;

use crate::webhook::WebhookSecret;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the simulator delivers its webhooks, and the secret it signs them with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub webhook_url: String,
    pub secret: WebhookSecret,
}

/// The simulator's axum router. Its deliveries run on tasks of their own until each is
/// delivered or given up.
pub fn router(settings: Settings) -> axum::Router {
    routes::router(settings, CancellationToken::new(), TaskTracker::new())
}

/// Serves the simulator on `listener` until `shutdown` is cancelled, then stops its pending
/// deliveries and returns once they have.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // A child, so that stopping the deliveries after a failed serve stops nothing else.
    let stop = shutdown.child_token();
    let deliveries = TaskTracker::new();
    let app = routes::router(settings, stop.clone(), deliveries.clone());
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "payment simulator listening");
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    // Also when the server failed: no delivery outlives `serve`.
    stop.cancel();
    deliveries.close();
    deliveries.wait().await;
    served
}
