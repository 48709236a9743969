//! Find, choose, hold (`AUTH=required`): trains with coaches and prices, the seat map, holds
//! and every status they answer, search, bookings of priced trains, expiry without a request,
//! and the concurrency oracle over the whole log.

mod oracle;

use crate::support::{TestApp, count, detail};
use crate::users::{register, send, signed_in};
use auth::AuthMode;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A server that requires tokens, with a first admin; the admin's token.
pub(crate) async fn secured(adjust: impl FnOnce(&mut command_api::Settings)) -> (TestApp, String) {
    let app = TestApp::spawn_with(|settings| {
        settings.auth = AuthMode::Required;
        settings.admin_email = "root@example.org".into();
        settings.admin_password = "correct horse".into();
        adjust(settings);
    })
    .await;
    let (admin, _) = signed_in(&app, "root@example.org").await;
    (app, admin)
}

/// A signed-in traveller: their id and token.
pub(crate) async fn traveller(app: &TestApp, name: &str) -> (i64, String) {
    let email = format!("{name}@example.org");
    let id = register(app, name, &email).await;
    let (token, _) = signed_in(app, &email).await;
    (id, token)
}

/// Coach 1: 4 first-class seats at 2500; coach 2: 6 second-class seats at 1500; leaving in
/// 2099, so no lead-time factor applies.
pub(crate) fn priced_train() -> Value {
    json!({
        "route": "Chisinau-Iasi-Bucuresti",
        "departure_time": "2099-09-25T06:30",
        "arrival_time": "2099-09-25T18:45",
        "available_seats": 10,
        "stops": ["Chișinău", "Iași", "București"],
        "coaches": [
            {"coach": "1", "class": "first", "seat_count": 4},
            {"coach": "2", "class": "second", "seat_count": 6}
        ],
        "prices": {"first": 2500, "second": 1500},
        "currency": "EUR"
    })
}

pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let reply = send(app, method, path, token, body).await;
    (reply.status, reply.body)
}

pub(crate) async fn new_train(app: &TestApp, admin: &str, body: Value) -> i64 {
    let (status, id) = call(app, Method::POST, "/trains", Some(admin), Some(body)).await;
    assert_eq!(status, 200, "{id}");
    id.as_i64().expect("a train id")
}

pub(crate) async fn hold(app: &TestApp, token: &str, train: i64, body: Value) -> (u16, Value) {
    let path = format!("/trains/{train}/holds");
    call(app, Method::POST, &path, Some(token), Some(body)).await
}

/// The state of each seat on the map, as `"seat=state"` in map order.
async fn states(app: &TestApp, train: i64, token: Option<&str>) -> Vec<String> {
    let path = format!("/trains/{train}/seats");
    let (status, map) = call(app, Method::GET, &path, token, None).await;
    assert_eq!(status, 200, "{map}");
    map["coaches"]
        .as_array()
        .expect("coaches")
        .iter()
        .flat_map(|coach| coach["seats"].as_array().expect("seats").clone())
        .filter(|seat| seat["state"] != "free")
        .map(|seat| {
            format!(
                "{}={}",
                seat["seat"].as_str().unwrap_or(""),
                seat["state"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn a_hold_takes_seats_at_the_quoted_price_and_answers_every_refusal() {
    let (app, admin) = secured(|settings| settings.max_holds_per_user_per_train = 2).await;
    let (_, ann) = traveller(&app, "ann").await;
    let (_, ben) = traveller(&app, "ben").await;
    let train = new_train(&app, &admin, priced_train()).await;

    let (status, held) = hold(&app, &ann, train, json!({"seats": ["1-1", "2-3"]})).await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(held["train_id"], train);
    assert_eq!(held["seats"], json!(["1-1", "2-3"]));
    assert_eq!(
        held["price"],
        json!({"total": 4000, "currency": "EUR", "lines": [
            {"seat": "1-1", "class": "first", "amount": 2500},
            {"seat": "2-3", "class": "second", "amount": 1500}
        ]})
    );
    let expires = held["expires_at"].as_str().expect("expires_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires).is_ok(),
        "{expires}"
    );
    // A held seat is not free.
    assert_eq!(app.seats_left(train).await, 8);

    let (status, body) = hold(&app, &ben, train, json!({"seats": ["2-2", "2-3"]})).await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"detail": "Seats not available", "seats": ["2-3"]})
        )
    );
    let (status, body) = hold(&app, &ben, train, json!({"seats": ["9-1"]})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = hold(&app, &ben, train, json!({"seats": []})).await;
    assert_eq!(status, 422, "{body}");
    let ten: Vec<String> = (1..=4)
        .map(|n| format!("1-{n}"))
        .chain((1..=6).map(|n| format!("2-{n}")))
        .collect();
    let (status, body) = hold(&app, &ben, train, json!({"seats": ten})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = hold(&app, &ben, train, json!({"count": 1})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = hold(&app, &ben, 999, json!({"seats": ["1-1"]})).await;
    assert_eq!((status, body), (404, detail("Train not found")));
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/trains/{train}/holds"),
        None,
        Some(json!({"seats": ["1-2"]})),
    )
    .await;
    assert_eq!(status, 401);

    // The cap: ann holds one; one more is fine, a third is refused.
    let (status, body) = hold(&app, &ann, train, json!({"count": 2, "class": "second"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["seats"],
        json!(["2-1", "2-2"]),
        "adjacent, from the shortest run that fits"
    );
    let (status, body) = hold(&app, &ann, train, json!({"seats": ["2-6"]})).await;
    assert_eq!((status, body), (409, detail("Too many active holds")));

    // Reading and releasing.
    let hold_id = held["hold_id"].as_str().expect("hold_id");
    let path = format!("/holds/{hold_id}");
    let (status, shown) = call(&app, Method::GET, &path, Some(&ann), None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["price"], held["price"]);
    let (status, body) = call(&app, Method::GET, &path, Some(&ben), None).await;
    assert_eq!((status, body), (404, detail("Hold not found")));
    let (status, body) = call(&app, Method::DELETE, &path, Some(&ben), None).await;
    assert_eq!((status, body), (404, detail("Hold not found")));
    let (status, body) = call(&app, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(status, 200, "an admin sees any hold: {body}");
    let (status, body) = call(&app, Method::DELETE, &path, Some(&ann), None).await;
    assert_eq!(
        (status, body),
        (200, json!({"hold_id": hold_id, "status": "released"}))
    );
    assert_eq!(
        app.seats_left(train).await,
        8,
        "1-1 and 2-3 back, 2-1 and 2-2 held"
    );
    let (status, body) = call(&app, Method::DELETE, &path, Some(&ann), None).await;
    assert_eq!((status, body), (409, detail("Hold is no longer active")));
    let (_, shown) = call(&app, Method::GET, &path, Some(&ann), None).await;
    assert_eq!(shown["status"], "released");
    let (status, body) = call(&app, Method::GET, "/holds/no-such-hold", Some(&ann), None).await;
    assert_eq!((status, body), (404, detail("Hold not found")));
}

#[tokio::test]
async fn a_departed_train_takes_no_holds() {
    let (app, admin) = secured(|_| {}).await;
    let (_, ann) = traveller(&app, "ann").await;
    let mut body = priced_train();
    body["departure_time"] = json!("2024-09-25T06:30");
    body["arrival_time"] = json!("2024-09-25T18:45");
    let train = new_train(&app, &admin, body).await;
    let (status, body) = hold(&app, &ann, train, json!({"seats": ["1-1"]})).await;
    assert_eq!((status, body), (409, detail("Train has departed")));
}

#[tokio::test]
async fn the_seat_map_shows_each_seat_and_a_callers_own() {
    let (app, admin) = secured(|_| {}).await;
    let (_, ann) = traveller(&app, "ann").await;
    let (_, ben) = traveller(&app, "ben").await;
    let train = new_train(&app, &admin, priced_train()).await;
    hold(&app, &ann, train, json!({"seats": ["2-1"]})).await;
    hold(&app, &ben, train, json!({"seats": ["2-2"]})).await;
    // An admin's booking is an operator's: the cheapest free seat at today's price.
    let (status, booking) = call(
        &app,
        Method::POST,
        "/bookings",
        Some(&admin),
        Some(json!({"train_id": train, "user_credentials": "Desk"})),
    )
    .await;
    assert_eq!(status, 200, "{booking}");

    assert_eq!(
        states(&app, train, None).await,
        ["2-1=held", "2-2=held", "2-3=booked"]
    );
    assert_eq!(
        states(&app, train, Some(&ann)).await,
        ["2-1=held_by_you", "2-2=held", "2-3=booked"]
    );
    let (_, map) = call(
        &app,
        Method::GET,
        &format!("/trains/{train}/seats"),
        None,
        None,
    )
    .await;
    assert_eq!(map["train_id"], train);
    assert_eq!(map["currency"], "EUR");
    assert_eq!(map["coaches"][0]["class"], "first");
    assert_eq!(
        map["coaches"][0]["seats"][0],
        json!({"seat": "1-1", "state": "free", "price": 2500})
    );
    let (status, body) = call(&app, Method::GET, "/trains/999/seats", None, None).await;
    assert_eq!((status, body), (404, detail("Train not found")));

    let path = format!("/bookings/{}", booking.as_i64().expect("an id"));
    let (_, shown) = call(&app, Method::GET, &path, Some(&admin), None).await;
    assert_eq!(shown["seat"], "2-3");
    assert_eq!(shown["price"], json!({"amount": 1500, "currency": "EUR"}));
}

#[tokio::test]
async fn a_traveller_pays_for_a_priced_train_and_books_a_free_one_as_before() {
    let (app, admin) = secured(|_| {}).await;
    let (_, ann) = traveller(&app, "ann").await;
    let priced = new_train(&app, &admin, priced_train()).await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/bookings",
        Some(&ann),
        Some(json!({"train_id": priced})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            402,
            detail("Payment required: hold seats and place an order")
        )
    );
    assert_eq!(
        app.seats_left(priced).await,
        10,
        "the refusal changed nothing"
    );

    let mut free = crate::support::train_body(3);
    free["departure_time"] = json!("2099-09-25T06:30");
    free["arrival_time"] = json!("2099-09-26T11:40");
    let free = new_train(&app, &admin, free).await;
    let (status, id) = call(
        &app,
        Method::POST,
        "/bookings",
        Some(&ann),
        Some(json!({"train_id": free})),
    )
    .await;
    assert_eq!(status, 200, "{id}");
    let (_, shown) = call(
        &app,
        Method::GET,
        &format!("/bookings/{id}"),
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(shown["seat"], "1-1");
    assert_eq!(shown["price"], json!({"amount": 0, "currency": "EUR"}));
}

#[tokio::test]
async fn fewer_seats_may_not_take_a_held_one_and_removing_a_train_releases_its_holds() {
    let (app, admin) = secured(|_| {}).await;
    let (_, ann) = traveller(&app, "ann").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let (_, held) = hold(&app, &ann, train, json!({"seats": ["2-6"]})).await;
    let path = format!("/trains/{train}");
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"available_seats": 8})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"detail": "Seats in use cannot be removed", "seats": ["2-6"]})
        )
    );
    let (status, _) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"available_seats": 11})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, map) = call(&app, Method::GET, &format!("{path}/seats"), None, None).await;
    assert_eq!(
        map["coaches"][1]["seats"].as_array().map(Vec::len),
        Some(8),
        "two seats added to the last coach"
    );

    let (status, _) = call(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 200);
    let hold_path = format!("/holds/{}", held["hold_id"].as_str().expect("hold_id"));
    let (_, shown) = call(&app, Method::GET, &hold_path, Some(&ann), None).await;
    assert_eq!(shown["status"], "released");
    let log = app.log().await;
    assert_eq!(count(&log, &format!("train-{train}"), "HoldReleased"), 1);
}

#[tokio::test]
async fn search_finds_trains_between_two_stops_on_a_day_whatever_the_accents() {
    let (app, admin) = secured(|_| {}).await;
    let late = new_train(&app, &admin, priced_train()).await;
    let mut early = priced_train();
    early["departure_time"] = json!("2099-09-25T05:00");
    let early = new_train(&app, &admin, early).await;
    // Stops read from the route, on another day.
    let mut other_day = crate::support::train_body(5);
    other_day["route"] = json!("Chisinau-Bucuresti");
    other_day["departure_time"] = json!("2099-09-26T05:00");
    other_day["arrival_time"] = json!("2099-09-26T15:00");
    let other_day = new_train(&app, &admin, other_day).await;

    let found = |query: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                Method::GET,
                &format!("/trains/search?{query}"),
                None,
                None,
            )
            .await
        }
    };
    let (status, hits) = found("from=chisinau&to=BUCURESTI&date=2099-09-25").await;
    assert_eq!(status, 200, "{hits}");
    let ids: Vec<i64> = hits
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|h| h["id"].as_i64())
        .collect();
    assert_eq!(ids, [early, late], "soonest first");
    assert_eq!(
        hits[0],
        json!({"id": early, "route": "Chisinau-Iasi-Bucuresti", "departure_time": "2099-09-25T05:00",
               "arrival_time": "2099-09-25T18:45", "from": "Chișinău", "to": "București",
               "seats_left_by_class": {"first": 4, "second": 6},
               "lowest_price": {"amount": 1500, "currency": "EUR"}})
    );
    let (_, hits) = found("from=Iasi&to=Chisinau&date=2099-09-25").await;
    assert_eq!(hits, json!([]), "Iasi comes after Chisinau");
    let (_, hits) = found("from=Chisinau&to=Bucuresti&date=2099-09-26").await;
    assert_eq!(hits[0]["id"], other_day);
    let (_, hits) = found("from=chisinau&to=bucuresti&date=2099-09-25&limit=1").await;
    assert_eq!(hits.as_array().map(Vec::len), Some(1));
    for bad in [
        "to=Iasi&date=2099-09-25",
        "from=Iasi&to=Bucuresti&date=25.09.2099",
        "from=Iasi&to=Bucuresti",
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/trains/search?{bad}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_expired_hold_frees_its_seats_without_any_request() {
    let (app, admin) = secured(|settings| {
        settings.hold_ttl_secs = 1;
        settings.hold_expiry_poll_ms = 100;
    })
    .await;
    let (_, ann) = traveller(&app, "ann").await;
    let train = new_train(&app, &admin, priced_train()).await;
    let (status, held) = hold(&app, &ann, train, json!({"seats": ["1-1", "1-2"]})).await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(app.seats_left(train).await, 8);
    // No request touches the train: the timer records the expiry.
    let stream = format!("train-{train}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count(&app.log().await, &stream, "HoldExpired") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no HoldExpired recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.seats_left(train).await != 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET /trains never showed the seats back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        states(&app, train, Some(&ann)).await.is_empty(),
        "the map shows every seat free"
    );
    let (_, shown) = call(
        &app,
        Method::GET,
        &format!("/holds/{}", held["hold_id"].as_str().expect("id")),
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(shown["status"], "expired");
}
