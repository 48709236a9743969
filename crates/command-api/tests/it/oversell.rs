//! Many travellers racing for the same seats: never more bookings than seats.

use crate::support::{TestApp, count, detail};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

const SEATS: i64 = 100;
const TRAVELLERS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_bookings_fill_a_hundred_seats_exactly() {
    let app = TestApp::spawn().await;
    let train = app.train(SEATS).await;
    let url = app.url("/bookings");
    let start = Arc::new(Barrier::new(TRAVELLERS));
    let mut tasks = Vec::with_capacity(TRAVELLERS);
    for n in 0..TRAVELLERS {
        let (client, url, start) = (app.client.clone(), url.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let body = json!({"train_id": train, "user_credentials": format!("traveller {n}")});
            start.wait().await;
            let response = client.post(url).json(&body).send().await.expect("sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }));
    }
    let mut booked = HashSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            (200, id) => assert!(booked.insert(id.as_i64().expect("an id")), "{id} twice"),
            (409, body) => {
                assert_eq!(body, detail("No seats left"));
                refused += 1;
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert_eq!(booked.len(), 100);
    assert_eq!(refused, 200);

    assert_eq!(app.seats_left(train).await, 0);
    let (status, bookings) = app.get("/bookings").await;
    assert_eq!(status, 200);
    let bookings = bookings.as_array().expect("a list");
    let on_train: Vec<&Value> = bookings.iter().filter(|b| b["train_id"] == train).collect();
    assert_eq!(on_train.len(), 100);
    let users: HashSet<&str> = on_train
        .iter()
        .map(|b| b["user_credentials"].as_str().expect("a user"))
        .collect();
    assert_eq!(users.len(), 100);
    let ids: HashSet<i64> = on_train
        .iter()
        .map(|b| b["id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(ids, booked);

    let log = app.log().await;
    assert_eq!(count(&log, &format!("train-{train}"), "SeatBooked"), 100);
    assert_eq!(
        log.iter().filter(|e| e.event_type == "SeatBooked").count(),
        100
    );
}

/// Another process's command API keeps the train's state from its last command. A command it
/// refuses (or that records nothing) appends nothing, so no expected revision checks that
/// state: the refusal must be checked against the stream as it is now.
#[tokio::test]
async fn a_refusal_on_a_state_another_process_changed_is_checked_against_the_stream() {
    let app = TestApp::spawn().await;
    let other = crate::users::another_instance(&app).await;
    let train = app.train(5).await;
    let train_id = domain::TrainId(train);
    let cancel = |booking: i64| domain::TrainCommand::CancelBooking {
        booking_id: domain::BookingId(booking),
        at: chrono::Utc::now(),
    };
    // The other process reads the train (and keeps it) while it has no bookings.
    let unknown = other.trains().execute(train_id, cancel(999)).await;
    assert!(matches!(
        unknown,
        Err(commands::CommandError::Rejected(
            domain::TrainError::BookingNotFound
        ))
    ));
    // This process books; the other one cancels that booking.
    let booking = app.book(train, "Tom Ford").await;
    let cancelled = other
        .trains()
        .execute(train_id, cancel(booking))
        .await
        .expect("the booking is there to cancel");
    assert_eq!(cancelled.events.len(), 1);
    let position = cancelled.position.expect("recorded").to_string();
    let shown = app
        .raw(
            app.request(reqwest::Method::GET, &format!("/bookings/{booking}"))
                .header("X-Min-Position", position),
        )
        .await;
    assert_eq!(
        (shown.status, shown.body),
        (404, detail("Booking not found"))
    );
}
