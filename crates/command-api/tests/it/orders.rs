//! Orders and payments (`AUTH=required`, the simulated provider on loopback): the happy path
//! on one and two trains, each test token, the webhook's signature, staleness, duplicates and
//! order, the expiry race, cancellations and refunds, and a removed or rescheduled train.

mod dispatch;
mod webhooks;

use crate::holds::{call, hold, new_train, priced_train, secured, traveller};
use crate::support::{TestApp, count};
use event_store::RecordedEvent;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The secret the test provider signs with.
pub(crate) const SECRET: &str = "whsec_test_orders_and_payments";

/// A secured server with payments on, and the simulated provider calling its webhook.
pub(crate) async fn paying(adjust: impl FnOnce(&mut command_api::Settings)) -> (TestApp, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the simulator");
    let provider = format!("http://{}", listener.local_addr().expect("an address"));
    let (app, admin) = secured(|settings| {
        settings.payment_webhook_secret = SECRET.into();
        settings.payment_provider_url = provider;
        settings.hold_expiry_poll_ms = 100;
        adjust(settings);
    })
    .await;
    let settings = payments::simulator::Settings {
        webhook_url: app.url("/payments/webhook"),
        secret: payments::webhook::WebhookSecret::from(SECRET.to_owned()),
    };
    tokio::spawn(payments::simulator::serve(
        listener,
        settings,
        CancellationToken::new(),
    ));
    (app, admin)
}

/// A hold of `seats` on `train` by `token`; its id.
pub(crate) async fn held(app: &TestApp, token: &str, train: i64, seats: &[&str]) -> String {
    let (status, body) = hold(app, token, train, json!({"seats": seats})).await;
    assert_eq!(status, 201, "{body}");
    body["hold_id"].as_str().expect("a hold id").to_owned()
}

pub(crate) async fn place(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, "/orders", Some(token), Some(body)).await
}

/// Places an order for `holds`; its id.
pub(crate) async fn ordered(app: &TestApp, token: &str, holds: &[&str]) -> String {
    let (status, order) = place(app, token, json!({"holds": holds})).await;
    assert_eq!(status, 201, "{order}");
    order["order_id"].as_str().expect("an order id").to_owned()
}

/// Pays for `order` with `token_name`; the payment's id.
pub(crate) async fn pay(app: &TestApp, token: &str, order: &str, with: &str) -> String {
    let body = json!({"order_id": order, "method": "card", "token": with});
    let (status, paid) = call(app, Method::POST, "/payments", Some(token), Some(body)).await;
    assert_eq!(status, 202, "{paid}");
    assert_eq!(paid["status"], "pending");
    paid["payment_id"]
        .as_str()
        .expect("a payment id")
        .to_owned()
}

/// `GET path` until `done` holds of the answer, for at most 20 s; the last answer.
pub(crate) async fn until(
    app: &TestApp,
    token: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call(app, Method::GET, path, Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn order_status(app: &TestApp, token: &str, order: &str, want: &str) -> Value {
    let path = format!("/orders/{order}");
    let body = until(app, token, &path, |o| o["status"] == want).await;
    assert_eq!(body["status"], want, "{body}");
    body
}

/// The events of one stream, in order.
pub(crate) fn stream<'a>(log: &'a [RecordedEvent], name: &str) -> Vec<&'a RecordedEvent> {
    log.iter().filter(|e| e.stream == name).collect()
}

fn types(events: &[&RecordedEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

#[tokio::test]
async fn one_train_placed_paid_and_confirmed_with_its_tickets_as_bookings() {
    let (app, admin) = paying(|_| {}).await;
    let (user, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let hold_id = held(&app, &ada, train, &["2-1", "2-2"]).await;

    let body = json!({"holds": [hold_id], "passengers": [{"seat": "2-1", "name": "Grace Hopper"}]});
    let (status, order) = place(&app, &ada, body).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["total"], 3000);
    assert_eq!(order["currency"], "EUR");
    let tickets = order["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0]["seat"], "2-1");
    assert_eq!(tickets[0]["passenger"], "Grace Hopper");
    assert_eq!(
        tickets[1]["passenger"], "ada",
        "a seat without a name travels as the account"
    );
    assert_eq!(tickets[0]["class"], "second");
    assert_eq!(tickets[0]["amount"], 1500);
    assert_eq!(tickets[0]["status"], "pending");
    assert_eq!(tickets[0]["refunded_amount"], 0);
    let order_id = order["order_id"].as_str().expect("an id").to_owned();
    // The hold now waits for the payment until pay_by.
    let (_, shown) = call(
        &app,
        Method::GET,
        &format!("/holds/{hold_id}"),
        Some(&ada),
        None,
    )
    .await;
    let pay_by = chrono::DateTime::parse_from_rfc3339(order["pay_by"].as_str().expect("pay_by"))
        .expect("RFC 3339");
    let expires = chrono::DateTime::parse_from_rfc3339(shown["expires_at"].as_str().expect("at"))
        .expect("RFC 3339");
    assert_eq!(expires, pay_by);
    assert!(pay_by > chrono::Utc::now() + chrono::TimeDelta::seconds(800));
    // Releasing it alone is refused: it goes with its order.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/holds/{hold_id}"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(status, 409);

    let payment = pay(&app, &ada, &order_id, "tok_success").await;
    assert!(payment.starts_with("pay_1_"), "{payment}");
    let confirmed = order_status(&app, &ada, &order_id, "confirmed").await;
    assert!(
        confirmed["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .all(|t| t["status"] == "issued")
    );
    let (_, paid) = call(
        &app,
        Method::GET,
        &format!("/payments/{payment}"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["amount"], 3000);
    assert_eq!(paid["order_id"], order_id.as_str());

    // The tickets are bookings with their seat and price.
    let (_, bookings) = call(&app, Method::GET, "/bookings", Some(&ada), None).await;
    let mut seats: Vec<(i64, String, i64)> = bookings
        .as_array()
        .expect("bookings")
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().expect("id"),
                b["seat"].as_str().expect("seat").to_owned(),
                b["price"]["amount"].as_i64().expect("price"),
            )
        })
        .collect();
    seats.sort();
    let ticket_ids: Vec<i64> = tickets
        .iter()
        .map(|t| t["ticket_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        seats,
        vec![
            (ticket_ids[0], "2-1".into(), 1500),
            (ticket_ids[1], "2-2".into(), 1500)
        ]
    );

    let log = app.log().await;
    let order_stream = stream(&log, &format!("order-{order_id}"));
    assert_eq!(
        types(&order_stream),
        [
            "OrderPlaced",
            "PaymentRequested",
            "PaymentSucceeded",
            "TicketsIssued",
            "OrderConfirmed"
        ]
    );
    assert_eq!(order_stream[0].metadata["actor_id"], user);
    let train_stream = format!("train-{train}");
    assert_eq!(count(&log, &train_stream, "HoldExtended"), 1);
    assert_eq!(count(&log, &train_stream, "OrderTicketsBooked"), 1);
    assert_eq!(count(&log, &train_stream, "SeatBooked"), 2);
    // Names are sealed in the log, never readable.
    assert!(
        !log.iter()
            .any(|e| e.data.to_string().contains("Grace Hopper"))
    );
}

#[tokio::test]
async fn two_trains_are_confirmed_together() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let out = new_train(&app, &admin, priced_train()).await;
    let back = new_train(&app, &admin, priced_train()).await;
    let first = held(&app, &ada, out, &["1-1"]).await;
    let second = held(&app, &ada, back, &["2-6"]).await;
    let (status, order) = place(&app, &ada, json!({"holds": [first, second]})).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total"], 2500 + 1500);
    let order_id = order["order_id"].as_str().expect("id").to_owned();
    pay(&app, &ada, &order_id, "tok_success").await;
    let confirmed = order_status(&app, &ada, &order_id, "confirmed").await;
    let trains: Vec<i64> = confirmed["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["train_id"].as_i64().expect("train"))
        .collect();
    assert_eq!(trains, vec![out, back]);
    let log = app.log().await;
    let events = stream(&log, &format!("order-{order_id}"));
    assert_eq!(
        types(&events),
        [
            "OrderPlaced",
            "PaymentRequested",
            "PaymentSucceeded",
            "TicketsIssued",
            "TicketsIssued",
            "OrderConfirmed"
        ]
    );
    assert_eq!(app.seats_left(out).await, 9);
    assert_eq!(app.seats_left(back).await, 9);
}

#[tokio::test]
async fn a_declined_payment_can_be_paid_again_and_a_delayed_one_confirms_later() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let order = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;

    let declined = pay(&app, &ada, &order, "tok_decline").await;
    let path = format!("/payments/{declined}");
    let failed = until(&app, &ada, &path, |p| p["status"] == "failed").await;
    assert_eq!(failed["status"], "failed");
    let (_, still) = call(
        &app,
        Method::GET,
        &format!("/orders/{order}"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(still["status"], "awaiting_payment");

    let delayed = pay(&app, &ada, &order, "tok_delayed_300").await;
    assert_ne!(delayed, declined);
    // While it is pending, another payment is refused.
    let body = json!({"order_id": order, "method": "card", "token": "tok_success"});
    let (status, refused) = call(
        &app,
        Method::POST,
        "/payments",
        Some(&ada),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    order_status(&app, &ada, &order, "confirmed").await;
    // And once paid, too.
    let (status, _) = call(&app, Method::POST, "/payments", Some(&ada), Some(body)).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_duplicated_webhook_counts_one_payment() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let order = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    pay(&app, &ada, &order, "tok_duplicate").await;
    order_status(&app, &ada, &order, "confirmed").await;
    // The three deliveries and the stale pending have all arrived once the order stays put.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = app.log().await;
    let stream_name = format!("order-{order}");
    assert_eq!(count(&log, &stream_name, "PaymentSucceeded"), 1);
    assert_eq!(count(&log, &stream_name, "PaymentFailed"), 0);
    assert_eq!(count(&log, &format!("train-{train}"), "SeatBooked"), 1);
}

#[tokio::test]
async fn cancelling_before_payment_lets_the_holds_go_and_after_confirmation_refunds() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let unpaid = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    let (status, cancelled) = call(
        &app,
        Method::POST,
        &format!("/orders/{unpaid}/cancel"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["tickets"][0]["status"], "cancelled");
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/orders/{unpaid}/cancel"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(status, 409, "nothing left to cancel");
    let body = json!({"order_id": unpaid, "method": "card", "token": "tok_success"});
    let (status, _) = call(&app, Method::POST, "/payments", Some(&ada), Some(body)).await;
    assert_eq!(status, 409, "a cancelled order is not awaiting payment");
    // Its seat is free again (the release follows the cancellation).
    let seats = until(&app, &ada, &format!("/trains/{train}"), |t| {
        t["available_seats"] == 10
    })
    .await;
    assert_eq!(seats["available_seats"], 10);

    // Two tickets, 2099: more than a week ahead, so a full refund.
    let order = ordered(
        &app,
        &ada,
        &[&held(&app, &ada, train, &["2-1", "2-2"]).await],
    )
    .await;
    let payment = pay(&app, &ada, &order, "tok_success").await;
    let confirmed = order_status(&app, &ada, &order, "confirmed").await;
    let ticket = confirmed["tickets"][0]["ticket_id"].as_i64().expect("id");
    let path = format!("/orders/{order}/tickets/{ticket}/cancel");
    let (status, one) = call(&app, Method::POST, &path, Some(&ada), None).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["status"], "partially_refunded");
    assert_eq!(one["tickets"][0]["status"], "refunded");
    assert_eq!(one["tickets"][0]["refunded_amount"], 1500);
    let refunded = until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["refunded_amount"] == 1500
    })
    .await;
    assert_eq!(refunded["status"], "partially_refunded");
    // The other ticket through DELETE /bookings: the same cancellation.
    let other = confirmed["tickets"][1]["ticket_id"].as_i64().expect("id");
    let (status, id) = call(
        &app,
        Method::DELETE,
        &format!("/bookings/{other}"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(status, 200, "{id}");
    let done = order_status(&app, &ada, &order, "refunded").await;
    assert_eq!(done["tickets"][1]["refunded_amount"], 1500);
    let paid_back = until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["status"] == "refunded"
    })
    .await;
    assert_eq!(paid_back["refunded_amount"], 3000);
    let seats = until(&app, &ada, &format!("/trains/{train}"), |t| {
        t["available_seats"] == 10
    })
    .await;
    assert_eq!(seats["available_seats"], 10);
}

#[tokio::test]
async fn a_refund_that_fails_is_listed_for_operators() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let order = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    let payment = pay(&app, &ada, &order, "tok_refund_fails").await;
    order_status(&app, &ada, &order, "confirmed").await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/orders/{order}/cancel"),
        Some(&ada),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let failing = until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["status"] == "refund_failed"
    })
    .await;
    assert_eq!(failing["status"], "refund_failed");
    assert_eq!(failing["refunded_amount"], 0);
    let (status, listed) = call(
        &app,
        Method::GET,
        "/payments?status=refund_failed",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["payment_id"].as_str())
        .collect();
    assert_eq!(ids, [payment.as_str()]);
    let (status, _) = call(
        &app,
        Method::GET,
        "/payments?status=lost",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn placing_refuses_what_it_cannot_keep() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let (_, bob) = traveller(&app, "bob").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let (status, _) = place(&app, &ada, json!({"holds": []})).await;
    assert_eq!(status, 422);
    let (status, _) = place(&app, &ada, json!({})).await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        Method::POST,
        "/orders",
        None,
        Some(json!({"holds": ["x"]})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = place(
        &app,
        &ada,
        json!({"holds": ["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]}),
    )
    .await;
    assert_eq!(status, 404);
    let bobs = held(&app, &bob, train, &["2-1"]).await;
    let (status, _) = place(&app, &ada, json!({"holds": [bobs]})).await;
    assert_eq!(status, 404, "another traveller's hold is not there");
    let released = held(&app, &ada, train, &["2-2"]).await;
    call(
        &app,
        Method::DELETE,
        &format!("/holds/{released}"),
        Some(&ada),
        None,
    )
    .await;
    let (status, body) = place(&app, &ada, json!({"holds": [released]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body,
        json!({"detail": "Hold is no longer active", "hold_id": released})
    );
    let mine = held(&app, &ada, train, &["2-3"]).await;
    let body = json!({"holds": [mine], "passengers": [{"seat": "2-4", "name": "X"}]});
    let (status, _) = place(&app, &ada, body).await;
    assert_eq!(status, 422, "a passenger for a seat not held");
    // Mixed currencies.
    let mut lei = priced_train();
    lei["currency"] = json!("RON");
    let other = new_train(&app, &admin, lei).await;
    let ron = held(&app, &ada, other, &["2-1"]).await;
    let (status, body) = place(&app, &ada, json!({"holds": [mine, ron]})).await;
    assert_eq!(status, 422, "{body}");
    // A hold already in an order cannot go in another.
    ordered(&app, &ada, &[&mine]).await;
    let (status, _) = place(&app, &ada, json!({"holds": [mine]})).await;
    assert_eq!(status, 409);
    // Only the owner (or an admin) sees an order; only the owner pays.
    let order = ordered(&app, &ada, &[&ron]).await;
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/orders/{order}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/orders/{order}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let body = json!({"order_id": order, "method": "card", "token": "tok_success"});
    let (status, _) = call(&app, Method::POST, "/payments", Some(&bob), Some(body)).await;
    assert_eq!(status, 404);
    let (_, mine_listed) = call(&app, Method::GET, "/orders", Some(&ada), None).await;
    assert_eq!(mine_listed.as_array().expect("a list").len(), 2);
    let (_, bobs_listed) = call(&app, Method::GET, "/orders", Some(&bob), None).await;
    assert_eq!(bobs_listed, json!([]));
}

#[tokio::test]
async fn a_payment_after_pay_by_takes_the_seats_again_or_is_refunded() {
    let (app, admin) = paying(|settings| settings.payment_window_secs = 1).await;
    let (_, ada) = traveller(&app, "ada").await;
    let (_, bob) = traveller(&app, "bob").await;
    let train = new_train(&app, &admin, priced_train()).await;

    // Paid late, its seat still free: taken again and confirmed.
    let late = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-1"]).await]).await;
    pay(&app, &ada, &late, "tok_delayed_2500").await;
    order_status(&app, &ada, &late, "expired").await;
    order_status(&app, &ada, &late, "confirmed").await;

    // Paid late, its seat taken by someone else meanwhile: refunded in full.
    let lost = ordered(&app, &ada, &[&held(&app, &ada, train, &["2-2"]).await]).await;
    let payment = pay(&app, &ada, &lost, "tok_delayed_3000").await;
    order_status(&app, &ada, &lost, "expired").await;
    held(&app, &bob, train, &["2-2"]).await;
    let refunded = order_status(&app, &ada, &lost, "refunded").await;
    assert_eq!(refunded["tickets"][0]["refunded_amount"], 1500);
    let paid_back = until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["status"] == "refunded"
    })
    .await;
    assert_eq!(paid_back["refunded_amount"], 1500);
    let log = app.log().await;
    assert_eq!(count(&log, &format!("train-{train}"), "TicketsRefused"), 1);
}

#[tokio::test]
async fn the_expiry_race_ends_confirmed_or_refunded_never_both() {
    let (app, admin) = paying(|settings| settings.payment_window_secs = 1).await;
    let (_, ada) = traveller(&app, "ada").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let mut outcomes = Vec::new();
    for (round, seat) in ["2-1", "2-2", "2-3", "2-4"].into_iter().enumerate() {
        let order = ordered(&app, &ada, &[&held(&app, &ada, train, &[seat]).await]).await;
        // Due just around pay_by.
        let delay = 900 + 50 * round;
        pay(&app, &ada, &order, &format!("tok_delayed_{delay}")).await;
        let path = format!("/orders/{order}");
        let end = until(&app, &ada, &path, |o| {
            o["status"] == "confirmed" || o["status"] == "refunded"
        })
        .await;
        outcomes.push((order, end["status"].as_str().expect("status").to_owned()));
    }
    let log = app.log().await;
    for (order, status) in &outcomes {
        let stream_name = format!("order-{order}");
        let confirmed = count(&log, &stream_name, "OrderConfirmed");
        let refunds = count(&log, &stream_name, "RefundRequested");
        match status.as_str() {
            "confirmed" => assert_eq!((confirmed, refunds), (1, 0), "{order}"),
            _ => assert_eq!((confirmed, refunds), (0, 1), "{order}"),
        }
    }
    // The seats agree: one live booking per confirmed order, none for a refunded one.
    let confirmed = outcomes.iter().filter(|(_, s)| s == "confirmed").count();
    assert_eq!(app.seats_left(train).await, 10 - confirmed as i64);
}

/// An order by `token` of seat 2-1 (1500) on one new train and 1-1 (2500) on another: the
/// trains and the order's id.
async fn on_two_trains(app: &TestApp, admin: &str, token: &str) -> (i64, i64, String) {
    let one = new_train(app, admin, priced_train()).await;
    let other = new_train(app, admin, priced_train()).await;
    let first = held(app, token, one, &["2-1"]).await;
    let second = held(app, token, other, &["1-1"]).await;
    (one, other, ordered(app, token, &[&first, &second]).await)
}

/// Removes `train` as `admin`.
async fn remove(app: &TestApp, admin: &str, train: i64) {
    let path = format!("/trains/{train}");
    let (status, body) = call(app, Method::DELETE, &path, Some(admin), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_removed_train_refunds_its_tickets_in_full_and_a_rescheduled_one_is_recorded() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let (moved, removed, order) = on_two_trains(&app, &admin, &ada).await;
    let payment = pay(&app, &ada, &order, "tok_success").await;
    order_status(&app, &ada, &order, "confirmed").await;

    let path = format!("/trains/{moved}");
    let change = json!({"departure_time": "2099-09-25T08:00"});
    let (status, body) = call(&app, Method::PUT, &path, Some(&admin), Some(change)).await;
    assert_eq!(status, 200, "{body}");
    remove(&app, &admin, removed).await;
    let after = order_status(&app, &ada, &order, "partially_refunded").await;
    assert_eq!(after["tickets"][1]["status"], "refunded");
    assert_eq!(after["tickets"][1]["refunded_amount"], 2500);
    assert_eq!(after["tickets"][0]["status"], "issued");
    until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["refunded_amount"] == 2500
    })
    .await;
    let log = app.log().await;
    let stream_name = format!("order-{order}");
    assert_eq!(count(&log, &stream_name, "TrainRescheduled"), 1);
    let reasons: Vec<&Value> = stream(&log, &stream_name)
        .into_iter()
        .filter(|e| e.event_type == "RefundRequested")
        .map(|e| &e.data["reason"])
        .collect();
    assert_eq!(reasons, [&json!("train_removed")]);
}

#[tokio::test]
async fn an_order_paid_after_one_of_its_trains_was_removed_is_refunded_in_full() {
    let (app, admin) = paying(|_| {}).await;
    let (_, ada) = traveller(&app, "ada").await;
    let (kept, removed, order) = on_two_trains(&app, &admin, &ada).await;
    remove(&app, &admin, removed).await;

    // Still awaiting payment: the removal let its hold go, and the payment is taken.
    let payment = pay(&app, &ada, &order, "tok_success").await;
    let refunded = order_status(&app, &ada, &order, "refunded").await;
    assert_eq!(refunded["tickets"][0]["refunded_amount"], 1500);
    assert_eq!(refunded["tickets"][1]["refunded_amount"], 2500);
    let paid_back = until(&app, &ada, &format!("/payments/{payment}"), |p| {
        p["status"] == "refunded"
    })
    .await;
    assert_eq!(paid_back["refunded_amount"], 4000);
    let log = app.log().await;
    assert_eq!(
        count(&log, &format!("train-{removed}"), "TicketsRefused"),
        1
    );
    assert_eq!(count(&log, &format!("order-{order}"), "IssueFailed"), 1);
    assert_eq!(
        app.seats_left(kept).await,
        10,
        "the kept train's seat is free again"
    );
}
