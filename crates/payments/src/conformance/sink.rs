//! A webhook receiver for the conformance suite: it verifies each delivery as our service
//! must, records what arrived and when, and can refuse a payment's first deliveries to make
//! the provider retry.

use crate::webhook::{self, SIGNATURE_HEADER, WebhookEvent, WebhookSecret};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long the suite waits for a webhook before it calls the provider broken.
pub const WAIT: Duration = Duration::from_secs(10);

/// One delivery attempt that passed the signature check.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: WebhookEvent,
    pub received_at: Instant,
    /// False when the sink answered 500 on purpose ([`WebhookSink::fail_first`]).
    pub accepted: bool,
}

/// A test webhook receiver on `127.0.0.1:0`, serving until dropped.
pub struct WebhookSink {
    url: String,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

struct Shared {
    secret: WebhookSecret,
    log: Mutex<Log>,
    /// Bumped on every delivery, so waiters wake without polling on a timer.
    arrivals: watch::Sender<u64>,
}

#[derive(Default)]
struct Log {
    deliveries: Vec<Delivery>,
    /// Per payment id, how many more deliveries to answer with 500.
    to_fail: HashMap<String, usize>,
    /// Why each refused delivery was refused: bad signature or body.
    refusals: Vec<String>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A check that panicked while holding the lock left the log whole: each change to it
        // is one push or one decrement.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl WebhookSink {
    /// Starts a sink that accepts deliveries signed with `secret`.
    pub async fn start(secret: WebhookSecret) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/webhooks", listener.local_addr()?);
        let shared = Arc::new(Shared {
            secret,
            log: Mutex::default(),
            arrivals: watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .route("/webhooks", post(receive))
            .with_state(Arc::clone(&shared));
        let stop = CancellationToken::new();
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        Ok(Self {
            url,
            shared,
            _stop: stop.drop_guard(),
        })
    }

    /// Where the provider must deliver, e.g. `http://127.0.0.1:40123/webhooks`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next `count` deliveries of `payment_id`'s events with 500.
    pub fn fail_first(&self, payment_id: &str, count: usize) {
        self.shared
            .log()
            .to_fail
            .insert(payment_id.to_owned(), count);
    }

    /// Every signed delivery of `payment_id`'s events so far, refused ones too, in order of
    /// arrival.
    pub fn deliveries(&self, payment_id: &str) -> Vec<Delivery> {
        let log = self.shared.log();
        let of_payment = log
            .deliveries
            .iter()
            .filter(|d| d.event.payment_id == payment_id);
        of_payment.cloned().collect()
    }

    /// The events of `payment_id` the sink accepted so far, in order of arrival.
    pub fn events(&self, payment_id: &str) -> Vec<WebhookEvent> {
        let deliveries = self.deliveries(payment_id).into_iter();
        deliveries.filter(|d| d.accepted).map(|d| d.event).collect()
    }

    /// Deliveries that were refused for a bad signature or body: there should be none.
    pub fn refusals(&self) -> Vec<String> {
        self.shared.log().refusals.clone()
    }

    /// Waits until `done` holds for [`deliveries`](Self::deliveries) of `payment_id`, and
    /// returns them; panics, naming `what`, if that takes longer than `within`.
    pub async fn wait_for(
        &self,
        payment_id: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        let mut arrivals = self.shared.arrivals.subscribe();
        loop {
            // Looked at after subscribing, so an arrival in between still wakes the wait.
            let deliveries = self.deliveries(payment_id);
            if done(&deliveries) {
                return deliveries;
            }
            let arrived = tokio::time::timeout_at(deadline, arrivals.changed()).await;
            assert!(
                arrived.is_ok(),
                "{payment_id}: no {what} within {within:?}; got {:#?}, refused: {:?}",
                deliveries.iter().map(|d| &d.event).collect::<Vec<_>>(),
                self.refusals()
            );
        }
    }

    /// Waits, at most [`WAIT`], until `done` holds for the accepted events of `payment_id`.
    pub async fn events_until(
        &self,
        payment_id: &str,
        what: &str,
        done: impl Fn(&[WebhookEvent]) -> bool,
    ) -> Vec<WebhookEvent> {
        let accepted = |deliveries: &[Delivery]| {
            let events = deliveries.iter().filter(|d| d.accepted);
            events.map(|d| d.event.clone()).collect::<Vec<_>>()
        };
        let deliveries = self
            .wait_for(payment_id, what, WAIT, |d| done(&accepted(d)))
            .await;
        accepted(&deliveries)
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    // A header that is not text is as good as a malformed one.
    let header = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    let verified = webhook::verify(&shared.secret, header, &body, Utc::now());
    let verified = verified.map_err(|e| e.to_string());
    let event = verified.and_then(|()| {
        serde_json::from_slice::<WebhookEvent>(&body).map_err(|e| format!("bad body: {e}"))
    });
    let status = {
        let mut log = shared.log();
        match event {
            Err(refusal) => {
                log.refusals.push(refusal);
                StatusCode::BAD_REQUEST
            }
            Ok(event) => {
                let to_fail = log.to_fail.get_mut(&event.payment_id);
                let accepted = match to_fail {
                    Some(count) if *count > 0 => {
                        *count -= 1;
                        false
                    }
                    _ => true,
                };
                log.deliveries.push(Delivery {
                    event,
                    received_at: Instant::now(),
                    accepted,
                });
                if accepted {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }
    };
    shared.arrivals.send_modify(|n| *n += 1);
    status
}
