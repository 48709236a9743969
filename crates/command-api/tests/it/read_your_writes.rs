//! Read your writes: a command's answer means the read models already show it, and its
//! `X-Event-Position` lets a later query wait for it.

use crate::support::{Reply, TestApp, detail, invalid, train_body, train_view};
use reqwest::Method;
use serde_json::json;

const POSITION: &str = "x-event-position";

/// A position is `<commit>.<prepare>`, both unsigned integers.
fn assert_position(reply: &Reply) -> String {
    let position = reply.header(POSITION);
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let looks_right = position
        .split_once('.')
        .is_some_and(|(commit, prepare)| digits(commit) && digits(prepare));
    assert!(looks_right, "X-Event-Position {position:?}");
    position.to_owned()
}

#[tokio::test]
async fn a_new_train_is_never_missing_right_after_it_is_registered() {
    let app = TestApp::spawn().await;
    for n in 1..=50 {
        let (status, id) = app.post("/trains", train_body(n)).await;
        assert_eq!((status, &id), (200, &json!(n)));
        let shown = app.get(&format!("/trains/{n}")).await;
        assert_eq!(shown, (200, train_view(n, n)), "iteration {n}");
    }
}

#[tokio::test]
async fn a_cancelled_booking_is_gone_right_after_the_cancel() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    for n in 0..10 {
        let id = app.book(train, &format!("traveller {n}")).await;
        let path = format!("/bookings/{id}");
        assert_eq!(app.get(&path).await.0, 200);
        assert_eq!(app.delete(&path).await, (200, json!(id)));
        assert_eq!(app.get(&path).await, (404, detail("Booking not found")));
        assert_eq!(app.seats_left(train).await, 10);
    }
}

#[tokio::test]
async fn every_command_answers_with_its_event_position() {
    let app = TestApp::spawn().await;
    let created = app
        .raw(app.request(Method::POST, "/trains").json(&train_body(5)))
        .await;
    assert_eq!(created.status, 200);
    let mut positions = vec![assert_position(&created)];
    let booking = json!({"train_id": 1, "user_credentials": "Tom Ford"});
    let commands = [
        app.request(Method::POST, "/bookings").json(&booking),
        app.request(Method::PUT, "/bookings/1")
            .json(&json!({"user_credentials": "Jo Malone"})),
        app.request(Method::PUT, "/trains/1")
            .json(&json!({"route": "A-B"})),
        app.request(Method::DELETE, "/bookings/1"),
        app.request(Method::DELETE, "/trains/1"),
    ];
    for command in commands {
        let reply = app.raw(command).await;
        assert_eq!((reply.status, &reply.body), (200, &json!(1)));
        positions.push(assert_position(&reply));
    }
    // Each command lands after the one before it.
    let parsed: Vec<(u64, u64)> = positions
        .iter()
        .map(|p| {
            let (commit, prepare) = p.split_once('.').expect("a dot");
            (
                commit.parse().expect("commit"),
                prepare.parse().expect("prepare"),
            )
        })
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[tokio::test]
async fn a_query_waiting_for_a_commands_position_sees_it() {
    let app = TestApp::spawn().await;
    let created = app
        .raw(app.request(Method::POST, "/trains").json(&train_body(5)))
        .await;
    let position = assert_position(&created);
    let booking = json!({"train_id": 1, "user_credentials": "Tom Ford"});
    let booked = app
        .raw(app.request(Method::POST, "/bookings").json(&booking))
        .await;
    let booked_at = assert_position(&booked);

    let show = app
        .request(Method::GET, "/trains/1")
        .header("x-min-position", &position);
    let reply = app.raw(show).await;
    assert_eq!((reply.status, reply.body), (200, train_view(1, 4)));
    let list = app
        .request(Method::GET, "/trains")
        .header("x-min-position", &position);
    let reply = app.raw(list).await;
    assert_eq!((reply.status, reply.body), (200, json!([train_view(1, 4)])));
    let expected = json!({"train_id": 1, "user_credentials": "Tom Ford", "id": 1, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    let show = app
        .request(Method::GET, "/bookings/1")
        .header("x-min-position", &booked_at);
    let reply = app.raw(show).await;
    assert_eq!((reply.status, reply.body), (200, expected.clone()));
    let list = app
        .request(Method::GET, "/bookings")
        .header("x-min-position", &booked_at);
    let reply = app.raw(list).await;
    assert_eq!((reply.status, reply.body), (200, json!([expected])));
}

#[tokio::test]
async fn a_malformed_min_position_is_refused() {
    let app = TestApp::spawn().await;
    app.train(5).await;
    let refused = invalid(
        &["header", "X-Min-Position"],
        "X-Min-Position must be a position such as 1234.56",
        "value_error",
    );
    for bad in ["", "12", "abc", "1.x", "-1.2", "1.2.3"] {
        for path in ["/trains", "/trains/1", "/bookings", "/bookings/1"] {
            let request = app.request(Method::GET, path).header("x-min-position", bad);
            let reply = app.raw(request).await;
            assert_eq!(
                (reply.status, &reply.body),
                (422, &refused),
                "{path} {bad:?}"
            );
        }
    }
}
