//! The payment dispatcher asks the provider for several orders at once: a provider answers
//! in hundreds of milliseconds, and one request at a time would cap the whole service at a few
//! payments a second.

use super::{held, order_status, ordered, pay, paying};
use crate::holds::{new_train, priced_train, traveller};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// How long a payment request waits alone before the relay answers 503.
const ALONE: Duration = Duration::from_secs(2);

/// A relay in front of the simulator that holds every payment request until requests of two
/// different payments are with it at once. One that waits alone for two seconds is answered
/// 503, as a busy provider would, and asked again later: asked one at a time, no payment
/// would ever go through.
#[derive(Clone, Default)]
struct Relay {
    simulator: Arc<OnceLock<String>>,
    waiting: Arc<Mutex<HashSet<String>>>,
    opened: Arc<OnceLock<watch::Sender<bool>>>,
}

impl Relay {
    async fn forward(self, uri: Uri, body: Bytes) -> (StatusCode, Bytes) {
        if uri.path() == "/v1/payments" {
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let payment = request["payment_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let gate = self.opened.get().expect("the gate");
            let mut open = gate.subscribe();
            {
                let mut waiting = self.waiting.lock().expect("waiting");
                waiting.insert(payment.clone());
                if waiting.len() >= 2 {
                    gate.send_replace(true);
                }
            }
            let opened = tokio::time::timeout(ALONE, open.wait_for(|open| *open)).await;
            self.waiting.lock().expect("waiting").remove(&payment);
            if opened.is_err() {
                return (StatusCode::SERVICE_UNAVAILABLE, Bytes::new());
            }
        }
        let simulator = self.simulator.get().expect("the simulator's address");
        let answer = reqwest::Client::new()
            .post(format!("{simulator}{}", uri.path()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the simulator answers");
        let status = StatusCode::from_u16(answer.status().as_u16()).expect("a status");
        (status, answer.bytes().await.expect("a body"))
    }
}

#[tokio::test]
async fn payments_of_different_orders_are_with_the_provider_at_once() {
    let relay = Relay::default();
    relay.opened.set(watch::channel(false).0).expect("one gate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the relay");
    let relay_url = format!("http://{}", listener.local_addr().expect("an address"));
    let serving = relay.clone();
    let router = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let relay = serving.clone();
        async move { relay.forward(uri, body).await }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let simulator = Arc::clone(&relay.simulator);
    let (app, admin) = paying(move |settings| {
        let address = std::mem::replace(&mut settings.payment_provider_url, relay_url);
        simulator.set(address).expect("one simulator");
    })
    .await;
    let (_, ada) = traveller(&app, "ada").await;
    let (_, bob) = traveller(&app, "bob").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let ada_order = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    let bob_order = ordered(&app, &bob, &[&held(&app, &bob, train, &["2-2"]).await]).await;

    tokio::join!(
        pay(&app, &ada, &ada_order, "tok_success"),
        pay(&app, &bob, &bob_order, "tok_success"),
    );
    order_status(&app, &ada, &ada_order, "confirmed").await;
    order_status(&app, &bob, &bob_order, "confirmed").await;
}
