//! The payment provider of the order crash test: the in-repo simulator, run in the test's own
//! process so that it outlives every kill of the service, behind a layer that counts how often
//! each payment and refund id was asked for, and a relay for its webhooks that counts each
//! outcome it reports.
//!
//! The relay holds a delivery until the command API answers (for a few seconds, inside the
//! simulator's own attempt timeout), and the simulator retries after that. A real provider
//! retries for days; the simulator gives up after about twenty seconds, which a run of
//! restarts could outlast and lose an outcome that the service could never learn again (it
//! has no way to ask the provider). The relay stretches the simulator's horizon past any
//! restart, and is not the service's side of anything.

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use payments::webhook::{SIGNATURE_HEADER, WebhookEvent, WebhookKind, WebhookSecret};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;

/// What the command API and the provider signed their webhooks with.
pub const SECRET: &str = "whsec_order_crash_test";

/// How long the relay keeps one delivery trying: less than the simulator's attempt timeout.
const HOLD_DELIVERY: Duration = Duration::from_secs(4);

/// What the provider saw, by our ids.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Requests per payment id, and per refund id (repeats included).
    pub payment_asks: BTreeMap<String, u32>,
    pub refund_asks: BTreeMap<String, u32>,
    /// Answers to those requests that were not 202, as `status id`.
    pub refused_asks: Vec<String>,
    /// The provider's outcome events per payment id (succeeded or failed), and per refund id,
    /// as distinct event ids: a redelivery keeps its id.
    pub payment_outcomes: BTreeMap<String, BTreeSet<String>>,
    pub refund_outcomes: BTreeMap<String, BTreeSet<String>>,
    /// Webhook deliveries the command API accepted.
    pub delivered: u32,
    /// Attempts to deliver that found no command API (dead or starting) or a 5xx.
    pub missed: u32,
    /// 4xx answers to a webhook, as `status body`: a signature or amount refused.
    pub refused_webhooks: Vec<String>,
}

/// Moments of the order process as the provider lives them, for a kill to strike at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The dispatcher asks for a payment (told before the simulator answers it).
    PaymentAsked,
    RefundAsked,
    /// The service accepted the webhook of a payment's success, or a refund's outcome.
    PaymentSettled,
    RefundSettled,
}

/// The provider, running until the test ends.
pub struct Provider {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    moments: broadcast::Sender<Moment>,
}

impl Provider {
    /// Serves the simulator on a port of its own, delivering its webhooks to the command API
    /// that listens (or will listen again) on `api`.
    pub async fn start(api: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the provider");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (moments, _) = broadcast::channel(256);
        let settings = payments::simulator::Settings {
            webhook_url: format!("{url}/relay"),
            secret: WebhookSecret::from(SECRET.to_owned()),
        };
        let asks = Asks {
            seen: Arc::clone(&seen),
            moments: moments.clone(),
        };
        let simulator = payments::simulator::router(settings)
            .layer(axum::middleware::from_fn_with_state(asks, count_asks));
        let relay = Relay {
            http: reqwest::Client::new(),
            target: format!("http://{api}/payments/webhook"),
            seen: Arc::clone(&seen),
            moments: moments.clone(),
        };
        let app = Router::new()
            .route("/relay", post(relay_webhook))
            .with_state(relay)
            .merge(simulator);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen, moments }
    }

    /// The moments to come.
    pub fn moments(&self) -> broadcast::Receiver<Moment> {
        self.moments.subscribe()
    }

    /// A copy of what it saw so far.
    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone)]
struct Asks {
    seen: Arc<Mutex<Seen>>,
    moments: broadcast::Sender<Moment>,
}

/// Counts each request by the id it carries, and notes any answer but 202.
async fn count_asks(State(asks): State<Asks>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let id = |field: &str| json[field].as_str().unwrap_or_default().to_owned();
    let asked = match parts.uri.path() {
        "/v1/payments" => Some((true, id("payment_id"))),
        "/v1/refunds" => Some((false, id("refund_id"))),
        _ => None,
    };
    if let Some((payment, _)) = &asked {
        let moment = if *payment {
            Moment::PaymentAsked
        } else {
            Moment::RefundAsked
        };
        let _ = asks.moments.send(moment);
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some((payment, id)) = asked {
        let mut seen = asks.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let asks = if payment {
            &mut seen.payment_asks
        } else {
            &mut seen.refund_asks
        };
        *asks.entry(id.clone()).or_default() += 1;
        if response.status() != StatusCode::ACCEPTED {
            seen.refused_asks
                .push(format!("{} {id}", response.status()));
        }
    }
    response
}

#[derive(Clone)]
struct Relay {
    http: reqwest::Client,
    target: String,
    seen: Arc<Mutex<Seen>>,
    moments: broadcast::Sender<Moment>,
}

impl Relay {
    fn note(&self, change: impl FnOnce(&mut Seen)) {
        change(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Passes one webhook on, as signed, trying until the command API answers or
/// [`HOLD_DELIVERY`] has passed; the simulator retries after a 503.
async fn relay_webhook(State(relay): State<Relay>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event = serde_json::from_slice::<WebhookEvent>(&body).ok();
    let settled = match event.as_ref().map(|e| e.kind) {
        Some(WebhookKind::PaymentSucceeded) => Some(Moment::PaymentSettled),
        Some(WebhookKind::RefundSucceeded | WebhookKind::RefundFailed) => {
            Some(Moment::RefundSettled)
        }
        _ => None,
    };
    if let Some(event) = event {
        relay.note(|seen| {
            let (outcomes, id) = match event.kind {
                WebhookKind::PaymentSucceeded | WebhookKind::PaymentFailed => {
                    (&mut seen.payment_outcomes, event.payment_id)
                }
                WebhookKind::RefundSucceeded | WebhookKind::RefundFailed => (
                    &mut seen.refund_outcomes,
                    event.refund_id.unwrap_or_default(),
                ),
                WebhookKind::PaymentPending => return,
            };
            outcomes.entry(id).or_default().insert(event.event_id);
        });
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .cloned()
        .unwrap_or(axum::http::HeaderValue::from_static(""));
    let deadline = tokio::time::Instant::now() + HOLD_DELIVERY;
    loop {
        let answer = relay
            .http
            .post(&relay.target)
            .timeout(Duration::from_secs(2))
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature.clone())
            .body(body.clone())
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => {
                relay.note(|seen| seen.delivered += 1);
                if let Some(moment) = settled {
                    let _ = relay.moments.send(moment);
                }
                return StatusCode::OK;
            }
            // Refused for good: a signature, a body or an amount the service would not take.
            Ok(answer) if answer.status() == StatusCode::BAD_REQUEST => {
                let status = answer.status();
                let text = answer.text().await.unwrap_or_default();
                relay.note(|seen| seen.refused_webhooks.push(format!("{status} {text}")));
                return status;
            }
            // No service, or one that could not decide yet (503, 409 under contention).
            _ => relay.note(|seen| seen.missed += 1),
        }
        if tokio::time::Instant::now() >= deadline {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
