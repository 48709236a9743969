//! The simulator's own HTTP answers, and how its client adapter maps them onto
//! `ProviderError`: what the conformance suite leaves to each adapter.

use crate::support::{Simulator, bind, log_if_asked, settings};
use axum::http::StatusCode;
use payments::conformance::WebhookSink;
use payments::simulator;
use payments::webhook::WebhookSecret;
use payments::{PaymentProvider, PaymentRequest, ProviderError, RefundRequest};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the tests that do not look at webhooks send them: the discard port, closed.
const NOWHERE: &str = "http://127.0.0.1:9/webhooks";

/// The bare [`simulator::router`], served until the test ends.
async fn bare_simulator() -> String {
    log_if_asked();
    let (listener, url) = bind().await;
    let router = simulator::router(settings(NOWHERE));
    tokio::spawn(axum::serve(listener, router).into_future());
    url
}

async fn post(url: &str, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

fn payment(payment_id: &str, token: &str) -> Value {
    json!({ "payment_id": payment_id, "amount": 1000, "currency": "EUR", "token": token })
}

fn refund(payment_id: &str) -> String {
    let refund =
        json!({ "refund_id": "ref_1", "payment_id": payment_id, "amount": 1, "currency": "EUR" });
    refund.to_string()
}

/// The message of a `Rejected`; panics on anything else.
fn rejection(result: Result<(), ProviderError>) -> String {
    match result {
        Err(ProviderError::Rejected(message)) => message,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

fn request(token: &str) -> PaymentRequest {
    PaymentRequest {
        payment_id: "pay_1".into(),
        amount: 1000,
        currency: "EUR".into(),
        token: token.into(),
    }
}

#[tokio::test]
async fn a_payment_is_accepted_as_pending_whatever_its_content_type() {
    let url = bare_simulator().await;
    let body = payment("pay_1", "tok_success").to_string();
    let answer = post(&url, "/v1/payments", body).await;
    assert_eq!(
        answer,
        (StatusCode::ACCEPTED, json!({ "status": "pending" }))
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_payment_answers_400_malformed() {
    let url = bare_simulator().await;
    let no_token = json!({ "payment_id": "pay_1", "amount": 1000, "currency": "EUR" });
    let zero =
        json!({ "payment_id": "pay_1", "amount": 0, "currency": "EUR", "token": "tok_success" });
    for body in [
        "not json".to_owned(),
        no_token.to_string(),
        zero.to_string(),
    ] {
        let (status, answer) = post(&url, "/v1/payments", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["code"], "malformed", "{body}: {answer}");
    }
}

#[tokio::test]
async fn an_unknown_token_is_rejected_with_the_simulators_message() {
    let client = simulator::Client::new(&bare_simulator().await);
    let result = client.request_payment(&request("tok_visa")).await;
    assert_eq!(rejection(result), "unknown test token");
}

#[tokio::test]
async fn a_delay_beyond_ten_minutes_is_rejected() {
    let client = simulator::Client::new(&bare_simulator().await);
    let result = client.request_payment(&request("tok_delayed_600001")).await;
    let message = rejection(result);
    assert!(message.contains("600000"), "{message}");
}

#[tokio::test]
async fn a_payment_id_reused_with_another_token_answers_409() {
    let url = bare_simulator().await;
    let first = post(
        &url,
        "/v1/payments",
        payment("pay_1", "tok_success").to_string(),
    )
    .await;
    assert_eq!(first.0, StatusCode::ACCEPTED);
    let (status, answer) = post(
        &url,
        "/v1/payments",
        payment("pay_1", "tok_decline").to_string(),
    )
    .await;
    assert_eq!(
        (status, &answer["code"]),
        (StatusCode::CONFLICT, &json!("id_reused"))
    );
}

#[tokio::test]
async fn a_refund_of_an_unknown_payment_answers_404() {
    let url = bare_simulator().await;
    let (status, answer) = post(&url, "/v1/refunds", refund("pay_0")).await;
    assert_eq!(
        (status, &answer["code"]),
        (StatusCode::NOT_FOUND, &json!("unknown_payment"))
    );
}

#[tokio::test]
async fn a_refund_before_the_payment_succeeded_answers_409() {
    let url = bare_simulator().await;
    let slow = payment("pay_1", "tok_delayed_60000").to_string();
    assert_eq!(
        post(&url, "/v1/payments", slow).await.0,
        StatusCode::ACCEPTED
    );
    let (status, answer) = post(&url, "/v1/refunds", refund("pay_1")).await;
    assert_eq!(
        (status, &answer["code"]),
        (StatusCode::CONFLICT, &json!("not_refundable"))
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("bound");
    drop(listener);
    let client = simulator::Client::new(&format!("http://{address}"));
    let result = client.request_payment(&request("tok_success")).await;
    assert!(
        matches!(result, Err(ProviderError::Unavailable(_))),
        "{result:?}"
    );
}

/// A provider that answers every call with `status` and a plain-text body.
async fn answering(status: StatusCode) -> simulator::Client {
    let (listener, url) = bind().await;
    let app = axum::Router::new().fallback(move || async move { (status, "nope") });
    tokio::spawn(axum::serve(listener, app).into_future());
    simulator::Client::new(&url)
}

#[tokio::test]
async fn a_5xx_a_408_or_a_429_is_unavailable() {
    let refund = RefundRequest {
        refund_id: "ref_1".into(),
        payment_id: "pay_1".into(),
        amount: 1,
        currency: "EUR".into(),
    };
    for status in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let client = answering(status).await;
        let paid = client.request_payment(&request("tok_success")).await;
        assert!(
            matches!(paid, Err(ProviderError::Unavailable(_))),
            "{status}: {paid:?}"
        );
        let refunded = client.refund(&refund).await;
        assert!(
            matches!(refunded, Err(ProviderError::Unavailable(_))),
            "{status}: {refunded:?}"
        );
    }
}

#[tokio::test]
async fn another_4xx_without_a_message_is_rejected_with_its_status() {
    let client = answering(StatusCode::FORBIDDEN).await;
    let result = client.request_payment(&request("tok_success")).await;
    assert_eq!(rejection(result), "403 Forbidden");
}

#[tokio::test]
async fn deliveries_signed_with_another_secret_are_refused_by_the_sink() {
    let sink = WebhookSink::start(WebhookSecret::from("whsec_other".to_owned()))
        .await
        .expect("start the sink");
    let simulator = Simulator::start(sink.url()).await;
    let payment = PaymentRequest {
        payment_id: "pay_forged".into(),
        ..request("tok_success")
    };
    simulator
        .client()
        .request_payment(&payment)
        .await
        .expect("accepted");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.refusals().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.refusals()[0], "no signature matches the body");
    assert!(sink.deliveries("pay_forged").is_empty());
}

#[tokio::test]
async fn serve_returns_once_shut_down_with_deliveries_still_waiting() {
    let (listener, url) = bind().await;
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(simulator::serve(
        listener,
        settings(NOWHERE),
        shutdown.clone(),
    ));
    let client = simulator::Client::new(&url);
    let ten_minutes = request("tok_delayed_600000");
    client
        .request_payment(&ten_minutes)
        .await
        .expect("accepted");
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), served).await;
    let result = stopped
        .expect("stopped without waiting for the payment")
        .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
}
