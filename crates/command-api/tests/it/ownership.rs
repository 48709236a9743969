//! Bookings of accounts (`AUTH=required`): a booking belongs to the traveller who made it, its
//! traveller's name is sealed in the log, another traveller cannot tell it exists, every event
//! names who acted, and erasing the account cancels the bookings still ahead and leaves the
//! rest unreadable.

use crate::support::{TestApp, detail, train_body};
use crate::users::{register, send, signed_in};
use auth::AuthMode;
use reqwest::Method;
use serde_json::{Value, json};

/// A server that requires tokens, with a first admin; the admin's token.
async fn secured() -> (TestApp, String) {
    let app = TestApp::spawn_with(|settings| {
        settings.auth = AuthMode::Required;
        settings.admin_email = "root@example.org".into();
        settings.admin_password = "correct horse".into();
    })
    .await;
    let (admin, _) = signed_in(&app, "root@example.org").await;
    (app, admin)
}

/// A traveller's id and access token.
async fn traveller(app: &TestApp, name: &str) -> (i64, String) {
    let email = format!("{name}@example.org");
    let id = register(app, name, &email).await;
    let (token, _) = signed_in(app, &email).await;
    (id, token)
}

/// A train departing at `departure` with `seats`, made by `admin`.
async fn train_at(app: &TestApp, admin: &str, departure: &str, arrival: &str) -> i64 {
    let mut body = train_body(5);
    body["departure_time"] = json!(departure);
    body["arrival_time"] = json!(arrival);
    let reply = send(app, Method::POST, "/trains", Some(admin), Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.as_i64().expect("a train id")
}

async fn train(app: &TestApp, admin: &str) -> i64 {
    train_at(app, admin, "2099-09-25T06:30", "2099-09-26T11:40").await
}

/// Books `train` for `token`'s account, naming `name` if given; the reply.
async fn book(app: &TestApp, token: &str, train: i64, name: Option<&str>) -> (u16, Value) {
    let mut body = json!({"train_id": train});
    if let Some(name) = name {
        body["user_credentials"] = json!(name);
    }
    let reply = send(app, Method::POST, "/bookings", Some(token), Some(body)).await;
    (reply.status, reply.body)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let reply = send(app, Method::GET, path, Some(token), None).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn a_booking_is_its_travellers_alone_and_named_after_the_account_by_default() {
    let (app, admin) = secured().await;
    let (ann_id, ann) = traveller(&app, "ann").await;
    let (_, ben) = traveller(&app, "ben").await;
    let train = train(&app, &admin).await;
    let (status, booking) = book(&app, &ann, train, None).await;
    assert_eq!(status, 200, "{booking}");
    let path = format!("/bookings/{booking}");
    let shown = json!({"train_id": train, "user_credentials": "ann", "id": booking, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    assert_eq!(get(&app, &path, &ann).await, (200, shown.clone()));
    assert_eq!(get(&app, &path, &admin).await, (200, shown.clone()));

    // To another traveller it does not exist.
    let missing = (404, detail("Booking not found"));
    assert_eq!(get(&app, &path, &ben).await, missing);
    let rename = Some(json!({"user_credentials": "Mallory"}));
    let reply = send(&app, Method::PUT, &path, Some(&ben), rename).await;
    assert_eq!((reply.status, reply.body), missing);
    let reply = send(&app, Method::DELETE, &path, Some(&ben), None).await;
    assert_eq!((reply.status, reply.body), missing);
    assert_eq!(get(&app, "/bookings", &ben).await, (200, json!([])));
    assert_eq!(get(&app, "/bookings", &ann).await, (200, json!([shown])));
    // Paging after an id keeps the owner's filter.
    assert_eq!(
        get(&app, "/bookings?after_id=0", &ben).await,
        (200, json!([]))
    );
    let before = format!("/bookings?after_id={}", booking.as_i64().expect("id") - 1);
    assert_eq!(get(&app, &before, &ann).await, (200, json!([shown])));

    // The owner renames it; the name stays sealed under the owner's key.
    let rename = Some(json!({"user_credentials": "Ann Lee"}));
    let reply = send(&app, Method::PUT, &path, Some(&ann), rename).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, renamed) = get(&app, &path, &admin).await;
    assert_eq!(renamed["user_credentials"], "Ann Lee");

    // The log holds the owner and who acted, never the names.
    let log = app.log().await;
    let booked = log
        .iter()
        .find(|e| e.event_type == "SeatBooked")
        .expect("the booking");
    assert_eq!(booked.data["user_credentials"]["owner"], json!(ann_id));
    assert_eq!(booked.metadata["actor_id"], json!(ann_id));
    let text = format!("{:?}", log.iter().map(|e| &e.data).collect::<Vec<_>>());
    assert!(!text.contains("Ann Lee") && !text.contains("\"ann\""));
    let registered = log
        .iter()
        .find(|e| e.event_type == "TrainRegistered")
        .expect("the train");
    assert!(registered.metadata["actor_id"].is_i64(), "the admin acted");
}

#[tokio::test]
async fn one_booking_per_traveller_holds_per_account_and_name() {
    let (app, admin) = secured().await;
    let (_, ann) = traveller(&app, "ann").await;
    let (_, ben) = traveller(&app, "ben").await;
    let train = train(&app, &admin).await;
    assert_eq!(book(&app, &ann, train, Some("Tom")).await.0, 200);
    let duplicate = (400, detail("User already has a booking for this train"));
    assert_eq!(book(&app, &ann, train, Some(" Tom ")).await, duplicate);
    // Another traveller of the same account, and the same name under another account.
    assert_eq!(book(&app, &ann, train, Some("Ida")).await.0, 200);
    assert_eq!(book(&app, &ben, train, Some("Tom")).await.0, 200);
    // The account's own name is a traveller like any other.
    assert_eq!(book(&app, &ann, train, None).await.0, 200);
    assert_eq!(book(&app, &ann, train, Some("ann")).await, duplicate);
}

#[tokio::test]
async fn erasure_frees_the_seats_ahead_and_leaves_past_bookings_unreadable() {
    let (app, admin) = secured().await;
    let (_, ann) = traveller(&app, "ann").await;
    let ahead = train(&app, &admin).await;
    let gone = train_at(&app, &admin, "2001-01-01T06:30", "2001-01-01T11:40").await;
    let (_, future) = book(&app, &ann, ahead, Some("Zelda Quinn")).await;
    let (_, past) = book(&app, &ann, gone, Some("Zelda Quinn")).await;
    assert_eq!(app.seats_left(ahead).await, 4);

    let erased = send(&app, Method::DELETE, "/api/users/profile", Some(&ann), None).await;
    assert_eq!(erased.status, 200, "{}", erased.body);

    // The answer comes once the cancellation is shown.
    assert_eq!(app.seats_left(ahead).await, 5);
    assert_eq!(
        get(&app, &format!("/bookings/{future}"), &admin).await,
        (404, detail("Booking not found"))
    );
    let shown = json!({"train_id": gone, "user_credentials": "Erased traveller", "id": past, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    assert_eq!(
        get(&app, &format!("/bookings/{past}"), &admin).await,
        (200, shown)
    );
    let log = app.log().await;
    let cancelled: Vec<&Value> = log
        .iter()
        .filter(|e| e.event_type == "BookingCancelled")
        .map(|e| &e.data)
        .collect();
    assert_eq!(cancelled.len(), 1, "only the booking ahead is cancelled");
    assert_eq!(cancelled[0]["booking_id"], future);
    assert_eq!(cancelled[0]["reason"], "owner_erased");
    // The erased token books nothing more.
    assert_eq!(book(&app, &ann, ahead, Some("Zelda Quinn")).await.0, 401);
    let everything = format!("{log:?}");
    assert!(!everything.contains("Zelda"));
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(b)::text FROM read_models.bookings b")
            .fetch_all(&app.pool)
            .await
            .expect("bookings");
    assert!(rows.iter().all(|row| !row.contains("Zelda")), "{rows:?}");
}

#[tokio::test]
async fn without_a_token_the_seed_paths_that_change_or_show_bookings_are_closed() {
    let (app, admin) = secured().await;
    let train = train(&app, &admin).await;
    for (method, path, body) in [
        (Method::POST, "/trains".to_owned(), Some(train_body(3))),
        (Method::DELETE, format!("/trains/{train}"), None),
        (Method::GET, "/bookings".to_owned(), None),
        (
            Method::POST,
            "/bookings".to_owned(),
            Some(json!({"train_id": train, "user_credentials": "Tom"})),
        ),
    ] {
        let reply = send(&app, method.clone(), &path, None, body).await;
        assert_eq!(reply.header("www-authenticate"), "Bearer");
        assert_eq!(
            (reply.status, reply.body),
            (401, detail("Not authenticated")),
            "{method} {path}"
        );
    }
    let (status, _) = app.get(&format!("/trains/{train}")).await;
    assert_eq!(status, 200, "the schedule stays public");
}
