//! The webhook as a provider (or an impostor) calls it: signatures, staleness, malformed
//! bodies, duplicates, events out of order, and events that are not ours.

use super::{SECRET, held, ordered, pay, paying, stream};
use crate::holds::{call, new_train, priced_train, traveller};
use crate::support::TestApp;
use chrono::{TimeDelta, Utc};
use payments::webhook::{SIGNATURE_HEADER, WebhookSecret, sign};
use reqwest::Method;
use serde_json::{Value, json};

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut request = app
        .request(Method::POST, "/payments/webhook")
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let reply = app.raw(request).await;
    (reply.status, reply.body)
}

fn signed(body: &[u8], secret: &str, age: TimeDelta) -> Option<String> {
    Some(sign(
        &WebhookSecret::from(secret.to_owned()),
        Utc::now() - age,
        body,
    ))
}

fn event(id: &str, kind: &str, payment: &str, amount: i64) -> Vec<u8> {
    json!({
        "event_id": id, "type": kind, "payment_id": payment,
        "amount": amount, "currency": "EUR", "created_at": Utc::now(),
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn only_signed_fresh_well_formed_events_change_anything_and_each_changes_it_once() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let order = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    // Ten minutes away: the provider stays out of it, the test speaks for it.
    let payment = pay(&app, &ada, &order, "tok_delayed_600000").await;
    let stream_name = format!("order-{order}");
    let before = stream(&app.log().await, &stream_name).len();

    let success = event("evt_1", "payment.succeeded", &payment, 1500);
    let refused = [
        deliver(&app, &success, None).await,
        deliver(
            &app,
            &success,
            signed(&success, "another secret", TimeDelta::zero()),
        )
        .await,
        deliver(
            &app,
            &success,
            signed(&success, SECRET, TimeDelta::seconds(301)),
        )
        .await,
        deliver(
            &app,
            &success,
            signed(&success, SECRET, TimeDelta::seconds(-301)),
        )
        .await,
        deliver(
            &app,
            b"{not json",
            signed(b"{not json", SECRET, TimeDelta::zero()),
        )
        .await,
    ];
    for (status, body) in refused {
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let tampered = event("evt_1", "payment.succeeded", &payment, 1);
    let (status, _) = deliver(&app, &tampered, signed(&success, SECRET, TimeDelta::zero())).await;
    assert_eq!(status, 400, "a body that is not the one signed");
    let wrong_amount = event("evt_2", "payment.succeeded", &payment, 1499);
    let (status, _) = deliver(
        &app,
        &wrong_amount,
        signed(&wrong_amount, SECRET, TimeDelta::zero()),
    )
    .await;
    assert_eq!(status, 400, "an amount that is not the payment's");
    assert_eq!(
        stream(&app.log().await, &stream_name).len(),
        before,
        "nothing changed"
    );

    let fresh = || signed(&success, SECRET, TimeDelta::seconds(299));
    assert_eq!(
        deliver(&app, &success, fresh()).await,
        (200, json!({"status": "applied"}))
    );
    assert_eq!(
        deliver(&app, &success, fresh()).await,
        (200, json!({"status": "duplicate"}))
    );
    // Out of order: a failure and a pending that come after the success change nothing.
    let failed = event("evt_3", "payment.failed", &payment, 1500);
    let stale = event("evt_0", "payment.pending", &payment, 1500);
    for late in [failed, stale] {
        let answer = deliver(&app, &late, signed(&late, SECRET, TimeDelta::zero())).await;
        assert_eq!(answer, (200, json!({"status": "duplicate"})));
    }
    // Not ours: acknowledged, so the provider stops retrying, and ignored.
    let unknown = event(
        "evt_4",
        "payment.succeeded",
        "pay_1_0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        1500,
    );
    let answer = deliver(&app, &unknown, signed(&unknown, SECRET, TimeDelta::zero())).await;
    assert_eq!(answer, (200, json!({"status": "ignored"})));
    let foreign = event(
        "evt_5",
        "payment.succeeded",
        "ch_3MmlLrLkdIwHu7ix0snN0B15",
        1500,
    );
    let answer = deliver(&app, &foreign, signed(&foreign, SECRET, TimeDelta::zero())).await;
    assert_eq!(answer, (200, json!({"status": "ignored"})));

    super::order_status(&app, &ada, &order, "confirmed").await;
    let log = app.log().await;
    let succeeded = stream(&log, &stream_name)
        .iter()
        .filter(|e| e.event_type == "PaymentSucceeded")
        .count();
    assert_eq!(succeeded, 1);
    let (_, paid) = call(
        &app,
        Method::GET,
        &format!("/payments/{payment}"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(paid["status"], "succeeded");
}
