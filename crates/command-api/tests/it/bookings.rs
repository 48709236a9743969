//! `/bookings`: taking, showing, changing and cancelling seats.

use crate::support::{TestApp, detail};
use serde_json::json;

const NO_TRAIN: &str = "Train to book ticket for not found";
const DUPLICATE: &str = "User already has a booking for this train";

fn booking(train: i64, user: &str) -> serde_json::Value {
    json!({"train_id": train, "user_credentials": user})
}

#[tokio::test]
async fn booking_a_seat_returns_its_id_and_takes_a_seat() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    assert_eq!(
        app.post("/bookings", booking(train, "Tom Ford")).await,
        (200, json!(1))
    );
    assert_eq!(app.seats_left(train).await, 99);
    assert_eq!(
        app.post("/bookings", booking(train, "Jo Malone")).await,
        (200, json!(2))
    );
    assert_eq!(app.seats_left(train).await, 98);
}

#[tokio::test]
async fn the_same_user_cannot_book_the_same_train_twice() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    app.book(train, "Tom Ford").await;
    let again = app.post("/bookings", booking(train, "Tom Ford")).await;
    assert_eq!(again, (400, detail(DUPLICATE)));
    // Credentials are trimmed, so padding does not make a different user.
    let padded = app.post("/bookings", booking(train, "  Tom Ford ")).await;
    assert_eq!(padded, (400, detail(DUPLICATE)));
    assert_eq!(app.seats_left(train).await, 99);
}

#[tokio::test]
async fn the_same_user_may_book_another_train() {
    let app = TestApp::spawn().await;
    let first = app.train(100).await;
    let second = app.train(100).await;
    app.book(first, "Tom Ford").await;
    let other = app.post("/bookings", booking(second, "Tom Ford")).await;
    assert_eq!(other, (200, json!(2)));
    assert_eq!(app.seats_left(first).await, 99);
    assert_eq!(app.seats_left(second).await, 99);
}

#[tokio::test]
async fn booking_an_unknown_train_is_not_found() {
    let app = TestApp::spawn().await;
    app.train(100).await;
    for train in [2, 0, -1, i64::MIN] {
        let reply = app.post("/bookings", booking(train, "Tom Ford")).await;
        assert_eq!(reply, (404, detail(NO_TRAIN)), "train_id {train}");
    }
    assert_eq!(app.get("/bookings").await, (200, json!([])));
}

#[tokio::test]
async fn booking_when_no_seat_is_left_is_a_conflict() {
    let app = TestApp::spawn().await;
    let train = app.train(1).await;
    app.book(train, "Tom Ford").await;
    let late = app.post("/bookings", booking(train, "Jo Malone")).await;
    assert_eq!(late, (409, detail("No seats left")));
    assert_eq!(app.seats_left(train).await, 0);
    let empty = app.train(0).await;
    let none = app.post("/bookings", booking(empty, "Jo Malone")).await;
    assert_eq!(none, (409, detail("No seats left")));
}

#[tokio::test]
async fn bookings_are_listed_and_shown_by_id() {
    let app = TestApp::spawn().await;
    let first = app.train(100).await;
    let second = app.train(100).await;
    let tom = app.book(first, "Tom Ford").await;
    let jo = app.book(second, "Jo Malone").await;
    let expected = json!([
        {"train_id": first, "user_credentials": "Tom Ford", "id": tom, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}},
        {"train_id": second, "user_credentials": "Jo Malone", "id": jo, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}},
    ]);
    assert_eq!(app.get("/bookings").await, (200, expected));
    let page = app.get("/bookings?limit=1&offset=1").await;
    let second_only = json!([{"train_id": second, "user_credentials": "Jo Malone", "id": jo, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}}]);
    assert_eq!(page, (200, second_only.clone()));
    let after = app.get(&format!("/bookings?after_id={tom}")).await;
    assert_eq!(after, (200, second_only));
    assert_eq!(
        app.get(&format!("/bookings?after_id={jo}")).await,
        (200, json!([]))
    );
    let shown = app.get(&format!("/bookings/{tom}")).await;
    let tom_view = json!({"train_id": first, "user_credentials": "Tom Ford", "id": tom, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    assert_eq!(shown, (200, tom_view));
    let text = app.get_text(&format!("/bookings/{tom}")).await;
    let in_order = format!(
        r#"{{"train_id":{first},"user_credentials":"Tom Ford","id":{tom},"seat":"1-1","price":{{"amount":0,"currency":"EUR"}}}}"#
    );
    assert_eq!(text, (200, in_order));
    assert_eq!(
        app.get("/bookings/99").await,
        (404, detail("Booking not found"))
    );
}

#[tokio::test]
async fn changing_the_holder_updates_the_booking() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    let id = app.book(train, "Tom Ford").await;
    let path = format!("/bookings/{id}");
    let change = json!({"user_credentials": "Jo Malone"});
    assert_eq!(app.put(&path, change).await, (200, json!(id)));
    let view = json!({"train_id": train, "user_credentials": "Jo Malone", "id": id, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    assert_eq!(app.get(&path).await, (200, view));
    assert_eq!(app.seats_left(train).await, 99);
    // The old holder no longer holds a seat on the train, so may book again.
    assert_eq!(
        app.post("/bookings", booking(train, "Tom Ford")).await.0,
        200
    );
}

#[tokio::test]
async fn changing_the_holder_to_someone_already_booked_on_the_train_is_refused() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    let tom = app.book(train, "Tom Ford").await;
    app.book(train, "Jo Malone").await;
    let path = format!("/bookings/{tom}");
    let change = json!({"user_credentials": "Jo Malone"});
    assert_eq!(app.put(&path, change).await, (400, detail(DUPLICATE)));
    let view = json!({"train_id": train, "user_credentials": "Tom Ford", "id": tom, "seat": "1-1", "price": {"amount": 0, "currency": "EUR"}});
    assert_eq!(app.get(&path).await, (200, view));
}

#[tokio::test]
async fn changing_the_holder_to_the_same_name_answers_the_id() {
    let app = TestApp::spawn().await;
    let train = app.train(100).await;
    let id = app.book(train, "Tom Ford").await;
    let before = app.log().await;
    let same = json!({"user_credentials": "Tom Ford"});
    assert_eq!(
        app.put(&format!("/bookings/{id}"), same).await,
        (200, json!(id))
    );
    assert_eq!(app.log().await.len(), before.len());
}

#[tokio::test]
async fn changing_an_unknown_booking_is_not_found() {
    let app = TestApp::spawn().await;
    let change = json!({"user_credentials": "Jo Malone"});
    assert_eq!(
        app.put("/bookings/1", change).await,
        (404, detail("Booking not found"))
    );
}

#[tokio::test]
async fn cancelling_a_booking_returns_its_seat() {
    let app = TestApp::spawn().await;
    let train = app.train(1).await;
    let id = app.book(train, "Tom Ford").await;
    let path = format!("/bookings/{id}");
    assert_eq!(app.delete(&path).await, (200, json!(id)));
    assert_eq!(app.get(&path).await, (404, detail("Booking not found")));
    assert_eq!(app.get("/bookings").await, (200, json!([])));
    assert_eq!(app.seats_left(train).await, 1);
    // The freed seat can be taken, by anyone including the former holder.
    assert_eq!(
        app.post("/bookings", booking(train, "Tom Ford")).await.0,
        200
    );
}

#[tokio::test]
async fn cancelling_a_booking_twice_is_not_found_the_second_time() {
    let app = TestApp::spawn().await;
    let train = app.train(10).await;
    let id = app.book(train, "Tom Ford").await;
    let path = format!("/bookings/{id}");
    assert_eq!(app.delete(&path).await, (200, json!(id)));
    assert_eq!(app.delete(&path).await, (404, detail("Booking not found")));
    assert_eq!(
        app.delete("/bookings/99").await,
        (404, detail("Booking not found"))
    );
    assert_eq!(app.seats_left(train).await, 10);
}
