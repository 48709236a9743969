//! Two command-API processes behind one gateway race on one train: many clients book (and
//! cancel some of what they booked) through the gateway, which spreads them over both. Each
//! process decides against its own copy of the train, so the cross-process path (a stale
//! revision refused by the event store, the command decided again) carries the load. An oracle
//! then replays the train's whole stream: at no position is a seat sold twice.

use crate::stack::{Http, Process, booking, free_address};
use event_store::testing::TestDatabase;
use event_store::{EventStore, PgEventStore};
use serde_json::json;
use std::collections::BTreeSet;

const SEATS: i64 = 60;
const CLIENTS: usize = 24;
const ATTEMPTS: usize = 8;

/// `http_requests_total` for `POST /bookings` answered 200, from a process's `/metrics`.
async fn bookings_served(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| line.starts_with("http_requests_total{"))
        .filter(|line| {
            line.contains(r#"method="POST""#)
                && line.contains(r#"path="/bookings""#)
                && line.contains(r#"status="200""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_command_api_processes_racing_on_one_train_sell_no_seat_twice() {
    let database = TestDatabase::create().await;
    let (first, second, gateway) = (free_address(), free_address(), free_address());
    let mut all = booking(&database.url);
    all.arg("all")
        .env("COMMAND_API_LISTEN", first.to_string())
        .env(
            "COMMAND_API_URLS",
            format!("http://{first},http://{second}"),
        )
        .env("GATEWAY_LISTEN", gateway.to_string())
        .env("GATEWAY_RATE_LIMIT", "0");
    let mut api = booking(&database.url);
    api.arg("command-api")
        .env("COMMAND_API_LISTEN", second.to_string());
    let http = Http::new();
    let (first, second, gateway) = (
        format!("http://{first}"),
        format!("http://{second}"),
        format!("http://{gateway}"),
    );
    let mut all = Process::spawn(&mut all);
    all.serving(&http, &first).await;
    all.serving(&http, &gateway).await;
    let mut api = Process::spawn(&mut api);
    api.serving(&http, &second).await;

    let train = json!({"route": "Chisinau-Bucuresti", "departure_time": "2024-09-25T06:30",
                       "arrival_time": "2024-09-26T11:40", "available_seats": SEATS});
    let (status, train_id) = http.post(&format!("{gateway}/ts/trains"), &train).await;
    assert_eq!(status, 200, "{train_id}");
    let train_id = train_id.as_i64().expect("a train id");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, gateway) = (http.clone(), gateway.clone());
            tokio::spawn(async move {
                let (mut booked, mut cancelled, mut refused) = (Vec::new(), Vec::new(), 0);
                for attempt in 0..ATTEMPTS {
                    let body = json!({"train_id": train_id,
                                      "user_credentials": format!("client {client}, {attempt}")});
                    let (status, answer) =
                        http.post(&format!("{gateway}/ts/bookings"), &body).await;
                    match status {
                        200 => booked.push(answer.as_i64().expect("a booking id")),
                        // No seats left, or the train kept changing: both are honest answers.
                        409 => refused += 1,
                        other => panic!("booking answered {other}: {answer}"),
                    }
                    // Every third booking is given back, so seats churn while others race.
                    if attempt % 3 == 2
                        && let Some(id) = booked.pop()
                    {
                        let url = format!("{gateway}/ts/bookings/{id}");
                        // "The train is changing too fast, please retry" (409): as told.
                        let mut status = 409;
                        for _ in 0..20 {
                            let response = reqwest::Client::new()
                                .delete(&url)
                                .send()
                                .await
                                .expect("cancel");
                            status = response.status().as_u16();
                            if status != 409 {
                                break;
                            }
                        }
                        assert_eq!(status, 200);
                        cancelled.push(id);
                    }
                }
                (booked, cancelled, refused)
            })
        })
        .collect();
    let (mut kept, mut given_back, mut refused) = (BTreeSet::new(), 0usize, 0usize);
    for client in clients {
        let (booked, cancelled, no) = client.await.expect("a client");
        kept.extend(booked);
        given_back += cancelled.len();
        refused += no;
    }

    // The oracle: the train's stream, event by event.
    let store = PgEventStore::new(database.pool(2).await)
        .await
        .expect("store");
    let stream = store
        .read_stream(&format!("train-{train_id}"))
        .await
        .expect("the train's stream");
    let capacity = u32::try_from(SEATS).expect("seats");
    let mut active = BTreeSet::new();
    let (mut booked_events, mut cancelled_events) = (0, 0);
    for event in &stream {
        let decoded = domain::decode(&event.event_type, &event.metadata, event.data.clone())
            .expect("a known event");
        match decoded {
            domain::DomainEvent::Train(domain::TrainEvent::SeatBooked {
                booking_id,
                seats_left,
                ..
            }) => {
                assert!(active.insert(booking_id), "{booking_id} booked twice");
                let taken = u32::try_from(active.len()).expect("a count");
                assert!(taken <= capacity, "oversold at revision {}", event.revision);
                assert_eq!(
                    seats_left,
                    capacity - taken,
                    "at revision {}",
                    event.revision
                );
                booked_events += 1;
            }
            domain::DomainEvent::Train(domain::TrainEvent::BookingCancelled {
                booking_id,
                seats_left,
                ..
            }) => {
                assert!(active.remove(&booking_id), "{booking_id} was not active");
                let taken = u32::try_from(active.len()).expect("a count");
                assert_eq!(
                    seats_left,
                    capacity - taken,
                    "at revision {}",
                    event.revision
                );
                cancelled_events += 1;
            }
            _ => {}
        }
    }
    // Every acknowledged booking is in the log, and nothing else is.
    assert_eq!(
        active,
        kept.iter().map(|id| domain::BookingId(*id)).collect()
    );
    assert_eq!(booked_events, kept.len() + given_back);
    assert_eq!(cancelled_events, given_back);
    assert_eq!(kept.len() + given_back + refused, CLIENTS * ATTEMPTS);
    let (_, shown) = http.get(&format!("{gateway}/ts/trains/{train_id}")).await;
    assert_eq!(
        shown["available_seats"],
        json!(SEATS - i64::try_from(kept.len()).expect("a count"))
    );
    // Both processes took part.
    assert!(
        bookings_served(&first).await > 0,
        "the first process booked nothing"
    );
    assert!(
        bookings_served(&second).await > 0,
        "the second process booked nothing"
    );
    println!(
        "{} attempts: {} kept, {} given back, {} refused; {} events on the train",
        CLIENTS * ATTEMPTS,
        kept.len(),
        given_back,
        refused,
        stream.len()
    );
}
