//! `/trains`, `/status` and the router's fallbacks, as the contract documents them.

use crate::support::{TestApp, detail, invalid, train_body, train_view};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn status_says_the_service_is_running() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/status").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "OK", "message": "Train booking service is running"})
    );
    let text = app.get_text("/status").await;
    let expected = r#"{"status":"OK","message":"Train booking service is running"}"#;
    assert_eq!(text, (200, expected.to_owned()));
}

#[tokio::test]
async fn an_unknown_path_is_not_found() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/nowhere").await, (404, detail("Not Found")));
    assert_eq!(
        app.get("/trains/1/wheels").await,
        (404, detail("Not Found"))
    );
}

#[tokio::test]
async fn a_wrong_method_is_not_allowed() {
    let app = TestApp::spawn().await;
    let reply = app.raw(app.request(Method::PATCH, "/trains")).await;
    assert_eq!(
        (reply.status, reply.body),
        (405, detail("Method Not Allowed"))
    );
    let reply = app.raw(app.request(Method::POST, "/trains/1")).await;
    assert_eq!(
        (reply.status, reply.body),
        (405, detail("Method Not Allowed"))
    );
    assert_eq!(
        app.delete("/trains").await,
        (405, detail("Method Not Allowed"))
    );
}

#[tokio::test]
async fn registering_a_train_returns_its_bare_id() {
    let app = TestApp::spawn().await;
    let reply = app
        .raw(app.request(Method::POST, "/trains").json(&train_body(100)))
        .await;
    assert_eq!((reply.status, reply.body), (200, json!(1)));
    assert_eq!(app.post("/trains", train_body(5)).await, (200, json!(2)));
}

#[tokio::test]
async fn the_train_list_shows_every_train_in_the_documented_shape() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/trains").await, (200, json!([])));
    app.train(100).await;
    app.train(7).await;
    let reply = app.raw(app.request(Method::GET, "/trains")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!([train_view(1, 100), train_view(2, 7)]));
    // Field order is part of the contract; `Value` sorts keys, so check the text.
    let (_, text) = app.get_text("/trains").await;
    let first = r#"{"route":"Chisinau-Bucuresti","departure_time":"2024-09-25T06:30","arrival_time":"2024-09-26T11:40","available_seats":100,"id":1}"#;
    assert!(text.starts_with(&format!("[{first},")), "{text}");
}

#[tokio::test]
async fn the_train_list_pages_with_limit_and_offset() {
    let app = TestApp::spawn().await;
    for seats in [1, 2, 3] {
        app.train(seats).await;
    }
    let page = app.get("/trains?limit=2").await;
    assert_eq!(page, (200, json!([train_view(1, 1), train_view(2, 2)])));
    let page = app.get("/trains?limit=2&offset=2").await;
    assert_eq!(page, (200, json!([train_view(3, 3)])));
    let page = app.get("/trains?offset=1").await;
    assert_eq!(page, (200, json!([train_view(2, 2), train_view(3, 3)])));
    assert_eq!(app.get("/trains?offset=3").await, (200, json!([])));
}

#[tokio::test]
async fn an_invalid_limit_is_refused_naming_the_query_parameter() {
    let app = TestApp::spawn().await;
    let range = invalid(
        &["query", "limit"],
        "Input should be between 1 and 1000",
        "value_error",
    );
    assert_eq!(app.get("/trains?limit=0").await, (422, range.clone()));
    assert_eq!(app.get("/trains?limit=1001").await, (422, range));
    let parse = invalid(
        &["query", "limit"],
        "Input should be a valid integer, unable to parse string as an integer",
        "int_parsing",
    );
    assert_eq!(app.get("/trains?limit=ten").await, (422, parse));
    let offset = invalid(
        &["query", "offset"],
        "Input should be between 0 and 10000",
        "value_error",
    );
    assert_eq!(app.get("/trains?offset=-1").await, (422, offset.clone()));
    assert_eq!(app.get("/trains?offset=10001").await, (422, offset));
    assert_eq!(app.get("/trains?offset=10000").await, (200, json!([])));
    let after_id = invalid(
        &["query", "after_id"],
        "Input should be between 0 and 9223372036854775807",
        "value_error",
    );
    assert_eq!(app.get("/trains?after_id=-1").await, (422, after_id));
}

#[tokio::test]
async fn the_train_list_pages_after_an_id_in_id_order_without_repeating_a_row() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for seats in 1..=5 {
        created.push(app.train(seats).await);
    }
    let (mut seen, mut after) = (Vec::new(), 0);
    loop {
        let (status, page) = app.get(&format!("/trains?limit=2&after_id={after}")).await;
        assert_eq!(status, 200, "{page}");
        let ids: Vec<i64> = page
            .as_array()
            .expect("a list")
            .iter()
            .map(|train| train["id"].as_i64().expect("an id"))
            .collect();
        let Some(&last) = ids.last() else { break };
        assert!(ids.len() <= 2, "{ids:?}");
        seen.extend(ids);
        after = last;
    }
    assert_eq!(seen, created, "every train once, in id order");
    let (_, page) = app.get(&format!("/trains?after_id={}", created[2])).await;
    assert_eq!(
        page,
        json!([train_view(created[3], 4), train_view(created[4], 5)])
    );
}

#[tokio::test]
async fn a_train_is_shown_by_its_id() {
    let app = TestApp::spawn().await;
    let id = app.train(42).await;
    assert_eq!(
        app.get(&format!("/trains/{id}")).await,
        (200, train_view(id, 42))
    );
    assert_eq!(app.get("/trains/2").await, (404, detail("Train not found")));
}

#[tokio::test]
async fn updating_only_the_route_keeps_everything_else() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let path = format!("/trains/{id}");
    let body = json!({"route": "Chisinau-Iasi"});
    assert_eq!(app.put(&path, body).await, (200, json!(id)));
    let mut expected = train_view(id, 100);
    expected["route"] = json!("Chisinau-Iasi");
    assert_eq!(app.get(&path).await, (200, expected));
}

#[tokio::test]
async fn updating_only_the_seats_sets_the_seats_left() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    app.book(id, "Tom Ford").await;
    let path = format!("/trains/{id}");
    let body = json!({"available_seats": 10});
    assert_eq!(app.put(&path, body).await, (200, json!(id)));
    assert_eq!(app.get(&path).await, (200, train_view(id, 10)));
    app.book(id, "Jo Malone").await;
    assert_eq!(app.seats_left(id).await, 9);
}

#[tokio::test]
async fn updating_both_times_together_moves_the_journey() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let path = format!("/trains/{id}");
    let body = json!({"departure_time": "2024-10-01T08:00", "arrival_time": "2024-10-01T20:15"});
    assert_eq!(app.put(&path, body).await, (200, json!(id)));
    let (_, train) = app.get(&path).await;
    assert_eq!(train["departure_time"], "2024-10-01T08:00");
    assert_eq!(train["arrival_time"], "2024-10-01T20:15");
}

#[tokio::test]
async fn moving_departure_to_or_past_arrival_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let path = format!("/trains/{id}");
    let before = app.log().await;
    let refused = invalid(
        &["body", "arrival_time"],
        "Departure time must be before arrival time",
        "value_error",
    );
    for departure in ["2024-09-26T11:40", "2024-09-27T00:00"] {
        let body = json!({"departure_time": departure});
        assert_eq!(app.put(&path, body).await, (422, refused.clone()));
    }
    let body = json!({"arrival_time": "2024-09-25T06:00"});
    assert_eq!(app.put(&path, body).await, (422, refused));
    assert_eq!(app.get(&path).await, (200, train_view(id, 100)));
    assert_eq!(app.log().await.len(), before.len());
}

#[tokio::test]
async fn an_empty_update_answers_the_id_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let path = format!("/trains/{id}");
    let before = app.log().await;
    assert_eq!(app.put(&path, json!({})).await, (200, json!(id)));
    assert_eq!(app.get(&path).await, (200, train_view(id, 100)));
    assert_eq!(app.log().await.len(), before.len());
}

#[tokio::test]
async fn updating_an_unknown_train_is_not_found() {
    let app = TestApp::spawn().await;
    let body = json!({"route": "Chisinau-Iasi"});
    assert_eq!(
        app.put("/trains/1", body).await,
        (404, detail("Train not found"))
    );
    assert_eq!(
        app.put("/trains/1", json!({})).await,
        (404, detail("Train not found"))
    );
}

#[tokio::test]
async fn deleting_a_train_returns_its_id_and_it_is_gone() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let other = app.train(100).await;
    let path = format!("/trains/{id}");
    assert_eq!(app.delete(&path).await, (200, json!(id)));
    assert_eq!(app.get(&path).await, (404, detail("Train not found")));
    assert_eq!(
        app.get("/trains").await,
        (200, json!([train_view(other, 100)]))
    );
}

#[tokio::test]
async fn deleting_a_train_cancels_its_active_bookings() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let other = app.train(100).await;
    let tom = app.book(id, "Tom Ford").await;
    app.book(id, "Jo Malone").await;
    let kept = app.book(other, "Tom Ford").await;
    assert_eq!(app.delete(&format!("/trains/{id}")).await, (200, json!(id)));
    let remaining = json!([{"train_id": other, "user_credentials": "Tom Ford", "id": kept, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}}]);
    assert_eq!(app.get("/bookings").await, (200, remaining));
    let gone = app.get(&format!("/bookings/{tom}")).await;
    assert_eq!(gone, (404, detail("Booking not found")));
    let booking = json!({"train_id": id, "user_credentials": "Zoe"});
    let refused = app.post("/bookings", booking).await;
    assert_eq!(refused, (404, detail("Train to book ticket for not found")));
}

#[tokio::test]
async fn deleting_a_train_twice_is_not_found_the_second_time() {
    let app = TestApp::spawn().await;
    let id = app.train(100).await;
    let path = format!("/trains/{id}");
    assert_eq!(app.delete(&path).await, (200, json!(id)));
    assert_eq!(app.delete(&path).await, (404, detail("Train not found")));
    assert_eq!(
        app.put(&path, json!({})).await,
        (404, detail("Train not found"))
    );
    assert_eq!(
        app.delete("/trains/77").await,
        (404, detail("Train not found"))
    );
}

/// The read database is made anew while the log is kept (restored, or reset for a rebuild):
/// its new id sequences start past every id the log holds, so no id is handed out twice.
#[tokio::test]
async fn after_the_read_database_is_reset_no_id_is_handed_out_twice() {
    let app = TestApp::spawn().await;
    let train = app.train(5).await;
    let booking = app.book(train, "Tom Ford").await;
    let reset = event_store::testing::TestDatabase::create().await;
    let pool = reset.pool(4).await;
    projector::migrate(&pool)
        .await
        .expect("read-model migrations");
    let settings = command_api::Settings::with_listen(([127, 0, 0, 1], 0).into());
    let state = command_api::AppState::new(
        settings,
        app.store.clone(),
        pool,
        projector::followers(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("a command API on the new read database");
    let next_train = state.ids().train().await.expect("a train id").0;
    let next_booking = state.ids().booking().await.expect("a booking id").0;
    assert!(next_train > train, "train id {next_train} after {train}");
    assert!(
        next_booking > booking,
        "booking id {next_booking} after {booking}"
    );
    // Checked once: a restart does not read the log again, nor move anything back.
    let again = state
        .ids()
        .move_past_the_log(&app.store)
        .await
        .expect("checked");
    assert_eq!(again, 0);
    assert!(state.ids().train().await.expect("a train id").0 > next_train);
}
