//! Poison events: events in the log that the read side cannot decode or apply. They are
//! written straight into the event store, past the API's checks, as an older release, a
//! bug or a hand-edited log would leave them. Each one must be set aside in the quarantine
//! while every projection goes on, and a command on an aggregate that holds one must answer
//! 503 at once instead of hanging.

use crate::support::{TestApp, detail, train_body};
use event_store::quarantine::{self, Entry};
use event_store::{EventStore, ExpectedRevision, NewEvent};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Streams far from the ids the API hands out.
const OUT_OF_RANGE: &str = "train-9001";
const UNKNOWN_TYPE: &str = "train-9002";
const UNDECODABLE: &str = "train-9003";

/// A registration as the log stores it, for train 9001, departing in 5000 BC: the codec reads
/// it back (stored events are never refused), but no `timestamp` column can hold it.
async fn out_of_range_registration(app: &TestApp) -> NewEvent {
    // The shape comes from a train registered through the API, so it is what the codec wrote.
    let model = app.train(1).await;
    let log = app.log().await;
    let registered = log
        .iter()
        .find(|e| e.stream == format!("train-{model}") && e.event_type == "TrainRegistered")
        .expect("the model train's registration");
    let mut data = registered.data.clone();
    data["train_id"] = json!(9001);
    data["departure_time"] = json!("-5000-01-01T00:00");
    event("TrainRegistered", data, registered.metadata.clone())
}

fn event(event_type: &str, data: Value, metadata: Value) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::now_v7(),
        event_type: event_type.to_owned(),
        data,
        metadata,
    }
}

/// Appends the three kinds of poison straight into the log.
async fn poison(app: &TestApp) {
    let events = [
        (OUT_OF_RANGE, out_of_range_registration(app).await),
        (
            UNKNOWN_TYPE,
            event("TrainTeleported", json!({"train_id": 9002}), json!({})),
        ),
        (
            UNDECODABLE,
            event(
                "TrainRegistered",
                json!({"train_id": "nine thousand three", "secret": "Jane Roe"}),
                json!({}),
            ),
        ),
    ];
    for (stream, event) in events {
        app.store
            .append(stream, ExpectedRevision::Any, vec![event])
            .await
            .expect("append poison");
    }
}

async fn quarantined(app: &TestApp, runner: &str) -> Vec<Entry> {
    let mut conn = app.pool.acquire().await.expect("connection");
    quarantine::list(&mut conn, quarantine::READ_MODELS)
        .await
        .expect("list the quarantine")
        .into_iter()
        .filter(|e| e.runner == runner)
        .collect()
}

/// The streams and kinds of a runner's quarantine, in log order.
fn kinds(entries: &[Entry]) -> Vec<(&str, &str)> {
    entries
        .iter()
        .map(|e| (e.stream.as_str(), e.error_kind.as_str()))
        .collect()
}

/// A command API whose commands wait as long as it takes for the read models: if a
/// projection stopped, the command would hang and the client's deadline fail the test.
async fn patient_app() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.read_your_writes_timeout_ms = 600_000;
        settings.request_timeout_ms = 600_000;
    })
    .await
}

#[tokio::test]
async fn poison_events_are_quarantined_and_a_new_train_is_readable_at_once() {
    let app = patient_app().await;
    poison(&app).await;

    let reply = app
        .raw(
            app.request(Method::POST, "/trains")
                .json(&train_body(40))
                .timeout(Duration::from_secs(20)),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.body.as_i64().expect("an id");
    // Read at once, without X-Min-Position: the answer came after the projection showed it.
    let (status, shown) = app.get(&format!("/trains/{id}")).await;
    assert_eq!((status, shown["available_seats"].clone()), (200, json!(40)));

    let trains = quarantined(&app, "trains").await;
    assert_eq!(
        kinds(&trains),
        vec![
            (OUT_OF_RANGE, "sqlstate_22008"),
            (UNKNOWN_TYPE, "unknown_type"),
            (UNDECODABLE, "malformed"),
        ]
    );
    // The bookings projection never writes a registration's times, so for it only the
    // events that cannot be decoded are poison.
    let bookings = quarantined(&app, "bookings").await;
    assert_eq!(
        kinds(&bookings),
        vec![(UNKNOWN_TYPE, "unknown_type"), (UNDECODABLE, "malformed")]
    );
    let log = app.log().await;
    for entry in &trains {
        let stored = log
            .iter()
            .find(|e| e.position == entry.position)
            .expect("a quarantined event is in the log");
        assert_eq!(
            (entry.stream.as_str(), entry.event_type.as_str()),
            (stored.stream.as_str(), stored.event_type.as_str())
        );
        assert_eq!(entry.event_id, Some(stored.id));
        assert_eq!(entry.attempts, 1);
    }
    // Nothing of the events' data is kept: only where they are and the kind of failure.
    let everything = format!("{trains:?}{bookings:?}");
    assert!(!everything.contains("5000") && !everything.contains("Jane"));

    // Degraded, never down: a healthcheck must not take the stack away for one bad event.
    let mut conn = app.pool.acquire().await.expect("connection");
    let all = quarantine::list(&mut conn, quarantine::READ_MODELS)
        .await
        .expect("list");
    let ready = app.get_text("/health/ready").await;
    let expected = format!(r#"{{"status":"degraded","quarantined":{}}}"#, all.len());
    assert_eq!(ready, (200, expected));
}

#[tokio::test]
async fn a_command_on_an_aggregate_holding_an_undecodable_event_is_refused_at_once() {
    let app = patient_app().await;
    poison(&app).await;
    for train in [9002, 9003] {
        let booking = json!({"train_id": train, "user_credentials": "Tom Ford"});
        let reply = app
            .raw(
                app.request(Method::POST, "/bookings")
                    .json(&booking)
                    .timeout(Duration::from_secs(20)),
            )
            .await;
        assert_eq!(
            (reply.status, &reply.body),
            (503, &detail("Temporarily unavailable")),
            "train {train}"
        );
        let retry_after: u64 = reply.header("retry-after").parse().expect("seconds");
        assert!(retry_after >= 1);
        let (status, body) = app.delete(&format!("/trains/{train}")).await;
        assert_eq!((status, body), (503, detail("Temporarily unavailable")));
    }
    // An aggregate whose events all decode still works, out-of-range time and all.
    let (status, _) = app
        .post(
            "/bookings",
            json!({"train_id": 9001, "user_credentials": "Tom Ford"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_retry_applies_a_blocked_stream_in_order_once_the_fault_is_fixed() {
    let app = patient_app().await;
    // A fault in the read model that refuses one train's registration, as a bad migration
    // could: the registration is set aside, and the train's later events queue behind it.
    sqlx::query(
        "ALTER TABLE read_models.trains ADD CONSTRAINT no_poison CHECK (route <> 'Poison-Town')",
    )
    .execute(&app.pool)
    .await
    .expect("add the fault");
    let mut body = train_body(10);
    body["route"] = json!("Poison-Town");
    let (status, poisoned) = app.post("/trains", body).await;
    assert_eq!(status, 200, "{poisoned}");
    let poisoned = poisoned.as_i64().expect("an id");
    let (status, _) = app
        .put(
            &format!("/trains/{poisoned}"),
            json!({"available_seats": 25}),
        )
        .await;
    assert_eq!(status, 200);
    let healthy = app.train(5).await;

    assert_eq!(app.get(&format!("/trains/{poisoned}")).await.0, 404);
    assert_eq!(app.seats_left(healthy).await, 5);
    let stream = format!("train-{poisoned}");
    let trains = quarantined(&app, "trains").await;
    assert_eq!(
        kinds(&trains),
        vec![
            (stream.as_str(), "sqlstate_23514"),
            (stream.as_str(), quarantine::BEHIND)
        ]
    );

    // Retried before the fix: it fails again and stops the stream there.
    let retried = projector::retry(&app.store, &app.pool, projection("trains"))
        .await
        .expect("retry");
    assert_eq!((retried.released, retried.remaining), (0, 2));
    let trains = quarantined(&app, "trains").await;
    assert_eq!(trains[0].attempts, 2);
    assert_eq!(trains[1].attempts, 1);

    sqlx::query("ALTER TABLE read_models.trains DROP CONSTRAINT no_poison")
        .execute(&app.pool)
        .await
        .expect("fix the fault");
    let retried = projector::retry(&app.store, &app.pool, projection("trains"))
        .await
        .expect("retry");
    assert_eq!((retried.released, retried.remaining), (2, 0));
    // In order: the registration, then the change of seats.
    assert_eq!(app.seats_left(poisoned).await, 25);
    assert!(quarantined(&app, "trains").await.is_empty());
    // The stream is free again: its next event applies live.
    let (status, _) = app
        .put(
            &format!("/trains/{poisoned}"),
            json!({"available_seats": 30}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.seats_left(poisoned).await, 30);

    let verification = projector::verify(&app.store, &app.pool, &projector::Projection::ALL)
        .await
        .expect("verify");
    assert_eq!(verification.differences, vec![]);
    assert_eq!(verification.quarantined, vec![]);
}

#[tokio::test]
async fn verify_and_rebuild_set_aside_what_the_live_projections_did() {
    let app = patient_app().await;
    app.train(3).await;
    poison(&app).await;
    app.train(4).await;

    let verification = projector::verify(&app.store, &app.pool, &projector::Projection::ALL)
        .await
        .expect("verify");
    assert_eq!(verification.differences, vec![]);
    let live = quarantined(&app, "trains").await;
    assert_eq!(live.len(), 3);
    assert!(verification.quarantined.iter().any(|e| e == &live[0]));

    let report = projector::rebuild(
        &app.store,
        &app.pool,
        &projector::Projection::ALL,
        true,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("rebuild")
    .expect("not interrupted");
    assert!(report.events > 0);
    let rebuilt = quarantined(&app, "trains").await;
    assert_eq!(kinds(&rebuilt), kinds(&live));
    let (status, trains) = app.get("/trains").await;
    assert_eq!(status, 200);
    assert_eq!(trains.as_array().map(Vec::len), Some(3));
}

fn projection(name: &str) -> projector::Projection {
    projector::Projection::named(name).expect("a projection")
}

#[tokio::test]
async fn the_reactor_sets_aside_a_removal_it_cannot_read_or_carry_out() {
    let app = patient_app().await;
    // A removal that does not decode, and a train whose lobby stream holds an event that
    // does not decode: closing that lobby cannot be decided.
    app.store
        .append(
            "train-9004",
            ExpectedRevision::Any,
            vec![event("TrainRemoved", json!({"train_id": []}), json!({}))],
        )
        .await
        .expect("append a garbled removal");
    let train = app.train(5).await;
    app.store
        .append(
            &format!("lobby-train-{train}"),
            ExpectedRevision::Any,
            vec![event("LobbyOpened", json!({"lobby": "?"}), json!({}))],
        )
        .await
        .expect("append a garbled lobby");

    // The removal is answered once the reaction is settled: set aside, not hanging.
    let reply = app
        .raw(
            app.request(Method::DELETE, &format!("/trains/{train}"))
                .timeout(Duration::from_secs(20)),
        )
        .await;
    assert_eq!((reply.status, &reply.body), (200, &json!(train)));
    assert_eq!(app.get(&format!("/trains/{train}")).await.0, 404);

    let reactor = quarantined(&app, "close-lobby-when-train-removed").await;
    let stream = format!("train-{train}");
    assert_eq!(
        kinds(&reactor),
        vec![
            ("train-9004", "malformed"),
            (stream.as_str(), "target_unreadable")
        ]
    );
    let (status, ready) = app.get("/health/ready").await;
    assert_eq!((status, &ready["status"]), (200, &json!("degraded")));

    // Nothing is fixed yet: a retry keeps both.
    let retried = command_api::retry_reactions(&app.store, &app.pool)
        .await
        .expect("retry");
    let counts: Vec<(&str, usize, usize)> = retried
        .iter()
        .map(|(name, r)| (*name, r.released, r.remaining))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("close-lobby-when-train-removed", 0, 2),
            ("register-user-when-email-claimed", 0, 0),
            ("release-email-when-user-erased", 0, 0),
            ("cancel-bookings-when-user-erased", 0, 0),
            ("order-steps-on-trains", 0, 0),
            ("train-answers-to-orders", 0, 0),
        ]
    );
    assert_eq!(
        quarantined(&app, "close-lobby-when-train-removed")
            .await
            .len(),
        2
    );
}
