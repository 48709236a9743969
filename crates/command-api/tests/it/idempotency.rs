//! `Idempotency-Key` on POST: a retry gets the first answer back and records nothing new.

use crate::support::{Reply, TestApp, count, detail, invalid, train_body};
use domain::{DomainEvent, TrainEvent};
use event_store::RecordedEvent;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    app.raw(app.request(Method::POST, path).header(KEY, key).json(body))
        .await
}

/// `retry` is `first` again: the same status, body and headers, marked as replayed.
fn assert_replays(retry: &Reply, first: &Reply) {
    assert_eq!((retry.status, &retry.body), (first.status, &first.body));
    assert_eq!(retry.header(REPLAYED), "true");
    for header in ["content-type", "x-event-position"] {
        assert_eq!(retry.header(header), first.header(header), "{header}");
    }
}

/// The log holds one booking on `train` (of ten seats), and the read models show it.
async fn assert_booked_once(app: &TestApp, train: i64) {
    let log = app.log().await;
    assert_eq!(count(&log, &format!("train-{train}"), "SeatBooked"), 1);
    assert_eq!(app.seats_left(train).await, 9);
}

#[tokio::test]
async fn a_retried_booking_gets_the_first_answer_and_books_once() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let first = post_with_key(&app, "/bookings", "book-1", &body).await;
    assert_eq!((first.status, &first.body), (200, &json!(1)));
    assert!(first.headers.get(REPLAYED).is_none());
    let retry = post_with_key(&app, "/bookings", "book-1", &body).await;
    assert_replays(&retry, &first);

    assert_booked_once(&app, train).await;
}

#[tokio::test]
async fn reusing_a_key_with_a_different_body_is_refused() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let tom = json!({"train_id": train, "user_credentials": "Tom Ford"});
    assert_eq!(
        post_with_key(&app, "/bookings", "k", &tom).await.status,
        200
    );
    let before = app.log().await.len();
    let jo = json!({"train_id": train, "user_credentials": "Jo Malone"});
    let reused = post_with_key(&app, "/bookings", "k", &jo).await;
    let refused = invalid(
        &["header", "Idempotency-Key"],
        "Idempotency-Key was already used with a different request body",
        "value_error",
    );
    assert_eq!((reused.status, reused.body), (422, refused));
    assert_eq!(app.log().await.len(), before);
    assert_eq!(app.seats_left(train).await, 9);
}

#[tokio::test]
async fn a_retried_train_registration_registers_once() {
    let app = TestApp::spawn().await;
    let first = post_with_key(&app, "/trains", "train-1", &train_body(50)).await;
    assert_eq!((first.status, &first.body), (200, &json!(1)));
    let retry = post_with_key(&app, "/trains", "train-1", &train_body(50)).await;
    assert_eq!((retry.status, &retry.body), (200, &json!(1)));
    assert_eq!(retry.header(REPLAYED), "true");
    let log = app.log().await;
    assert_eq!(
        log.iter()
            .filter(|e| e.event_type == "TrainRegistered")
            .count(),
        1
    );
    let (_, trains) = app.get("/trains").await;
    assert_eq!(trains.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_same_key_on_another_path_is_a_different_request() {
    let app = TestApp::spawn().await;
    let train = post_with_key(&app, "/trains", "shared", &train_body(5)).await;
    assert_eq!((train.status, train.body), (200, json!(1)));
    let body = json!({"train_id": 1, "user_credentials": "Tom Ford"});
    let booking = post_with_key(&app, "/bookings", "shared", &body).await;
    assert_eq!((booking.status, &booking.body), (200, &json!(1)));
    assert!(booking.headers.get(REPLAYED).is_none());
}

#[tokio::test]
async fn a_key_that_is_empty_too_long_or_not_visible_ascii_is_refused() {
    let app = TestApp::spawn().await;
    let refused = invalid(
        &["header", "Idempotency-Key"],
        "Idempotency-Key must be 1 to 255 visible ASCII characters",
        "value_error",
    );
    let keys = [
        String::new(),
        "k".repeat(256),
        "two words".into(),
        "tab\tbed".into(),
    ];
    for key in keys {
        let reply = post_with_key(&app, "/trains", &key, &train_body(5)).await;
        assert_eq!((reply.status, &reply.body), (422, &refused));
    }
    assert!(app.log().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_key_book_once() {
    const RETRIES: usize = 10;
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let start = Arc::new(Barrier::new(RETRIES));
    let mut tasks = Vec::new();
    for _ in 0..RETRIES {
        let request = app
            .request(Method::POST, "/bookings")
            .header(KEY, "race")
            .json(&body);
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }));
    }
    let in_progress = detail("A request with this Idempotency-Key is still in progress");
    let mut answered = 0;
    for task in tasks {
        match task.await.expect("task") {
            (200, id) => {
                assert_eq!(id, json!(1));
                answered += 1;
            }
            (409, body) => assert_eq!(body, in_progress),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert!(answered >= 1, "no retry got the booking's answer");
    let log = app.log().await;
    assert_eq!(count(&log, &format!("train-{train}"), "SeatBooked"), 1);
    let (_, bookings) = app.get("/bookings").await;
    assert_eq!(
        bookings,
        json!([{"train_id": train, "user_credentials": "Tom Ford", "id": 1, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}}])
    );
}

#[tokio::test]
async fn posts_with_a_key_still_work_when_redis_is_down() {
    // Nothing listens on port 1: the service must degrade open, neither failing nor stalling.
    // A stall shows up as the service's own deadline answering 503 instead of 200; the
    // deadline is generous next to Redis's 500 ms connect timeout and an ordinary command.
    let app = TestApp::spawn_with(|s| {
        s.redis_url = Some("redis://127.0.0.1:1".into());
        s.request_timeout_ms = 3_000;
    })
    .await;
    let train = post_with_key(&app, "/trains", "down-1", &train_body(5)).await;
    assert_eq!((train.status, train.body), (200, json!(1)));
    let body = json!({"train_id": 1, "user_credentials": "Tom Ford"});
    let booking = post_with_key(&app, "/bookings", "down-2", &body).await;
    assert_eq!((booking.status, booking.body), (200, json!(1)));
    assert_eq!(app.seats_left(1).await, 4);
}

/// A connection to the tests' Redis, and every key this server stored there.
async fn stored_keys(app: &TestApp) -> (redis::aio::MultiplexedConnection, Vec<String>) {
    use redis::AsyncCommands;
    let client = redis::Client::open(crate::support::redis_url()).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis
        .keys(format!("{}*", app.redis_prefix()))
        .await
        .expect("keys");
    (redis, keys)
}

/// Every value this server stored in Redis.
async fn stored(app: &TestApp) -> Vec<String> {
    use redis::AsyncCommands;
    let (mut redis, keys) = stored_keys(app).await;
    let mut values = Vec::new();
    for key in keys {
        let value: String = redis.get(&key).await.expect("value");
        values.push(value);
    }
    values
}

#[tokio::test]
async fn a_key_keeps_a_fingerprint_of_the_request_never_its_body() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let first = post_with_key(&app, "/bookings", "fingerprint-1", &body).await;
    assert_eq!(first.status, 200);
    let stored = stored(&app).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(!stored[0].contains("Tom Ford"), "{}", stored[0]);
    // The fingerprint still tells the same request from another one.
    let retry = post_with_key(&app, "/bookings", "fingerprint-1", &body).await;
    assert_eq!(retry.header(REPLAYED), "true");
}

#[tokio::test]
async fn a_body_refused_as_invalid_keeps_no_key() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let garbage = json!({"train_id": "seven"});
    let refused = post_with_key(&app, "/bookings", "fix-and-retry", &garbage).await;
    assert_eq!(refused.status, 422);
    assert!(stored(&app).await.is_empty());
    // The client fixes its body and retries with the same key: it runs.
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let fixed = post_with_key(&app, "/bookings", "fix-and-retry", &body).await;
    assert_eq!((fixed.status, fixed.body), (200, json!(1)));
}

/// Every `SeatBooked` of the log: its booking id and its position, as text.
fn booked(log: &[RecordedEvent]) -> Vec<(i64, String)> {
    log.iter()
        .filter_map(
            |e| match domain::decode(&e.event_type, &e.metadata, e.data.clone()).ok()? {
                DomainEvent::Train(TrainEvent::SeatBooked { booking_id, .. }) => {
                    Some((booking_id.0, e.position.to_string()))
                }
                _ => None,
            },
        )
        .collect()
}

fn outcome_unknown() -> Value {
    detail("Outcome unknown, retry later")
}

/// Retries while the answer is 409 "Outcome unknown" (the store coming back), for at most
/// 20 seconds; the first other answer.
async fn once_known(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = post_with_key(app, path, key, body).await;
        if (reply.status, &reply.body) != (409, &outcome_unknown()) {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcome still unknown"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_booking_that_never_landed_is_unknown_until_the_store_is_back_then_runs_once() {
    let app = TestApp::spawn_behind_proxy(|_| {}).await;
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    app.store_proxy().down();
    let first = post_with_key(&app, "/bookings", "never-1", &body).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let retry = post_with_key(&app, "/bookings", "never-1", &body).await;
    assert_eq!((retry.status, &retry.body), (409, &outcome_unknown()));
    assert_eq!(retry.header("retry-after"), "1");
    assert!(booked(&app.log().await).is_empty());

    app.store_proxy().up();
    // Nothing landed: the request runs now, as the booking the first attempt numbered.
    let known = once_known(&app, "/bookings", "never-1", &body).await;
    assert_eq!((known.status, &known.body), (200, &json!(1)));
    let again = post_with_key(&app, "/bookings", "never-1", &body).await;
    assert_replays(&again, &known);
    assert_booked_once(&app, train).await;
}

#[tokio::test]
async fn a_train_that_never_landed_is_registered_once_under_its_first_id() {
    let app = TestApp::spawn_behind_proxy(|_| {}).await;
    app.store_proxy().down();
    let first = post_with_key(&app, "/trains", "never-train", &train_body(5)).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let retry = post_with_key(&app, "/trains", "never-train", &train_body(5)).await;
    assert_eq!((retry.status, &retry.body), (409, &outcome_unknown()));

    app.store_proxy().up();
    // A run under a new id would write to another stream, where the first attempt's command,
    // were it still on its way, could not be recognised.
    let known = once_known(&app, "/trains", "never-train", &train_body(5)).await;
    assert_eq!((known.status, &known.body), (200, &json!(1)));
    let log = app.log().await;
    assert_eq!(count(&log, "train-1", "TrainRegistered"), 1);
    assert_eq!(log.len(), 1);
    assert_eq!(app.get("/trains").await.1.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_failure_before_the_command_is_handed_over_frees_the_key() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let rename = |from: &str, to: &str| format!("ALTER SEQUENCE command_api.{from} RENAME TO {to}");
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    // No booking id can be taken: the request fails before its command exists.
    sqlx::query(&rename("booking_ids", "booking_ids_away"))
        .execute(&app.pool)
        .await
        .expect("hide the sequence");
    let failed = post_with_key(&app, "/bookings", "early-1", &body).await;
    assert_eq!(failed.status, 500, "{}", failed.body);
    assert!(stored(&app).await.is_empty());

    sqlx::query(&rename("booking_ids_away", "booking_ids"))
        .execute(&app.pool)
        .await
        .expect("restore the sequence");
    let retry = post_with_key(&app, "/bookings", "early-1", &body).await;
    assert_eq!((retry.status, &retry.body), (200, &json!(1)));
    assert!(retry.headers.get(REPLAYED).is_none());
}

/// Holds the bookings read model still until the transaction ends: its projection, and with
/// it every booking's read-your-writes wait, blocks on the table's lock. Reads go on.
async fn hold_bookings(app: &TestApp) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut hold = app.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE read_models.bookings IN SHARE MODE")
        .execute(&mut *hold)
        .await
        .expect("lock the bookings read model");
    hold
}

/// The settings under which a booking's read-your-writes wait outlasts the deadline, so a
/// held bookings read model makes the deadline end the request after its append.
fn deadline_before_read_models(settings: &mut command_api::Settings) {
    settings.request_timeout_ms = 3_000;
    settings.read_your_writes_timeout_ms = 60_000;
}

/// A booking whose answer was lost: see [`answer_lost`].
struct Lost {
    train: i64,
    body: Value,
    /// The booking as the log holds it.
    id: i64,
    position: String,
}

/// Books a seat on a new train with `key` while the bookings read model is held, so that the
/// deadline ends the request after its append: the client gets a 503 and never hears of the
/// booking. Needs [`deadline_before_read_models`]. The hold is still held.
async fn answer_lost(
    app: &TestApp,
    key: &str,
) -> (Lost, sqlx::Transaction<'static, sqlx::Postgres>) {
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let hold = hold_bookings(app).await;
    let first = post_with_key(app, "/bookings", key, &body).await;
    assert_eq!(
        (first.status, &first.body),
        (503, &detail("Request timed out, please retry"))
    );
    let landed = booked(&app.log().await);
    assert_eq!(landed.len(), 1, "{landed:?}");
    let (id, position) = landed[0].clone();
    let lost = Lost {
        train,
        body,
        id,
        position,
    };
    (lost, hold)
}

/// `reply` is the answer the lost booking's request would have had.
fn assert_answers(reply: &Reply, lost: &Lost) {
    assert_eq!((reply.status, &reply.body), (200, &json!(lost.id)));
    assert_eq!(reply.header("x-event-position"), lost.position);
}

#[tokio::test]
async fn a_booking_cut_short_by_the_deadline_keeps_its_key_and_answers_with_its_booking() {
    let app = TestApp::spawn_with(deadline_before_read_models).await;
    let (lost, hold) = answer_lost(&app, "deadline-1").await;

    // A retry learns the outcome (the key then holds the answer) and answers once the read
    // models show the booking.
    let retry = {
        let (app, body) = (&app, &lost.body);
        let retry = async move { post_with_key(app, "/bookings", "deadline-1", body).await };
        let release = async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while !stored(app)
                .await
                .iter()
                .any(|v| v.contains(r#""state":"done""#))
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the outcome never came"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            hold.commit()
                .await
                .expect("release the bookings read model");
        };
        tokio::join!(retry, release).0
    };
    assert_answers(&retry, &lost);
    assert_eq!(retry.header(REPLAYED), "true");
    assert_eq!(app.get(&format!("/bookings/{}", lost.id)).await.0, 200);

    let again = post_with_key(&app, "/bookings", "deadline-1", &lost.body).await;
    assert_replays(&again, &retry);
    assert_booked_once(&app, lost.train).await;
}

#[tokio::test]
async fn a_booking_that_landed_while_its_answer_was_lost_is_unknown_until_the_store_is_back() {
    let app = TestApp::spawn_behind_proxy(deadline_before_read_models).await;
    let (lost, hold) = answer_lost(&app, "lost-1").await;

    // The event store goes away before anyone could learn the outcome.
    app.store_proxy().down();
    for _ in 0..3 {
        let retry = post_with_key(&app, "/bookings", "lost-1", &lost.body).await;
        assert_eq!((retry.status, &retry.body), (409, &outcome_unknown()));
    }
    // The same key with another body is still another request.
    let other = json!({"train_id": lost.train, "user_credentials": "Jo Malone"});
    assert_eq!(
        post_with_key(&app, "/bookings", "lost-1", &other)
            .await
            .status,
        422
    );

    app.store_proxy().up();
    hold.commit()
        .await
        .expect("release the bookings read model");
    let known = once_known(&app, "/bookings", "lost-1", &lost.body).await;
    assert_answers(&known, &lost);
    assert_eq!(known.header(REPLAYED), "true");
    assert_booked_once(&app, lost.train).await;
}

/// Rewrites, in every value this server stored in Redis, `from` into `to`.
async fn rewrite_stored(app: &TestApp, from: &str, to: &str) {
    use redis::AsyncCommands;
    let (mut redis, keys) = stored_keys(app).await;
    for key in keys {
        let value: String = redis.get(&key).await.expect("value");
        let () = redis
            .set_options(
                &key,
                value.replace(from, to),
                redis::SetOptions::default().with_expiration(redis::SetExpiry::KEEPTTL),
            )
            .await
            .expect("rewrite");
    }
}

#[tokio::test]
async fn a_run_again_that_finds_its_first_attempt_recorded_answers_as_that_attempt() {
    let app = TestApp::spawn_with(deadline_before_read_models).await;
    let (lost, hold) = answer_lost(&app, "late-1").await;
    hold.commit()
        .await
        .expect("release the bookings read model");

    // Stands in for a first attempt still on its way when a retry looked: the retry finds
    // nothing where it looks, and runs the request again, where the first attempt landed.
    let stream = format!(r#""stream":"train-{}""#, lost.train);
    rewrite_stored(&app, &stream, r#""stream":"train-999""#).await;
    let retry = post_with_key(&app, "/bookings", "late-1", &lost.body).await;
    assert_answers(&retry, &lost);
    assert_booked_once(&app, lost.train).await;
}

#[tokio::test]
async fn a_client_that_goes_away_leaves_its_request_to_finish_and_be_kept() {
    let app = TestApp::spawn_with(|s| s.read_your_writes_timeout_ms = 60_000).await;
    let train = app.train(10).await;
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let hold = hold_bookings(&app).await;
    // The client gives up while the booking waits for the read models.
    let gave_up = app
        .request(Method::POST, "/bookings")
        .header(KEY, "gone-1")
        .json(&body)
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    hold.commit()
        .await
        .expect("release the bookings read model");

    let in_progress = detail("A request with this Idempotency-Key is still in progress");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let retry = loop {
        let retry = post_with_key(&app, "/bookings", "gone-1", &body).await;
        if (retry.status, &retry.body) != (409, &in_progress) {
            break retry;
        }
        assert!(tokio::time::Instant::now() < deadline, "still in progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((retry.status, &retry.body), (200, &json!(1)));
    assert_eq!(retry.header(REPLAYED), "true");
    assert_booked_once(&app, train).await;
}

#[tokio::test]
async fn the_posts_that_take_a_key_document_the_unknown_outcome() {
    let app = TestApp::spawn().await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    for path in ["/trains", "/bookings"] {
        let conflict = &document["paths"][path]["post"]["responses"]["409"]["description"];
        let described = conflict.as_str().unwrap_or_default();
        assert!(
            described.contains("Outcome unknown, retry later"),
            "POST {path}: {conflict}"
        );
    }
}
