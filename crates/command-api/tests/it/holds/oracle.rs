//! The concurrency oracle: 500 clients hold random seats on one train of 200 seats, release
//! some and hold again, all at once. Then the whole log of the train is folded independently of
//! the domain's own state: at no position may a seat be in two live holds or bookings, and
//! every event's `seats_left` must equal the seats that are truly free there.

use super::{call, hold, new_train, secured, traveller};
use crate::support::TestApp;
use domain::{DomainEvent, TrainEvent};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const CLIENTS: usize = 500;
const ACCOUNTS: usize = 50;
const ROUNDS: usize = 6;
const COACHES: u32 = 5;
const SEATS_PER_COACH: u32 = 40;

/// A small, seeded generator: each client's choices differ, and a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        u32::try_from(self.0 % u64::from(sides)).expect("less than sides")
    }
}

#[derive(Default)]
struct Tally {
    held: AtomicUsize,
    refused: AtomicUsize,
    released: AtomicUsize,
}

#[tokio::test]
async fn no_seat_is_ever_in_two_live_holds_or_bookings() {
    let (app, admin) = secured(|settings| settings.max_holds_per_user_per_train = 1_000).await;
    let coaches: Vec<_> = (1..=COACHES)
        .map(|c| json!({"coach": c.to_string(), "class": "second", "seat_count": SEATS_PER_COACH}))
        .collect();
    let train = new_train(
        &app,
        &admin,
        json!({
            "route": "Chisinau-Bucuresti", "departure_time": "2099-09-25T06:30",
            "arrival_time": "2099-09-25T18:45", "available_seats": COACHES * SEATS_PER_COACH,
            "coaches": coaches, "prices": {"first": 0, "second": 1000}
        }),
    )
    .await;
    let mut tokens = Vec::new();
    for n in 0..ACCOUNTS {
        tokens.push(traveller(&app, &format!("client{n}")).await.1);
    }
    let app = Arc::new(app);
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (app, tally) = (Arc::clone(&app), Arc::clone(&tally));
            let token = tokens[n % ACCOUNTS].clone();
            tokio::spawn(async move { client(&app, &token, train, n, &tally).await })
        })
        .collect();
    for client in clients {
        client.await.expect("a client ran to its end");
    }
    let (held, refused, released) = (
        tally.held.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.released.load(Ordering::Relaxed),
    );

    let checked = oracle(&app, train).await;
    eprintln!(
        "oracle: {CLIENTS} clients, {held} holds made, {released} released, {refused} refused; \
         {} events checked, {} SeatsHeld, {} seats held again after release",
        checked.events, checked.holds, checked.reheld
    );
    assert_eq!(
        checked.holds, held,
        "every 201 is one SeatsHeld, and no other"
    );
    assert_eq!(
        checked.releases, released,
        "every release is one HoldReleased"
    );
    assert!(
        held > 200 && refused > 0,
        "the clients contended: {held} held, {refused} refused"
    );
}

/// One client: `ROUNDS` times, holds 1 or 2 random seats; releases three holds in four.
async fn client(app: &TestApp, token: &str, train: i64, n: usize, tally: &Tally) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    for _ in 0..ROUNDS {
        let seats: Vec<String> = (0..=dice.roll(2))
            .map(|_| {
                format!(
                    "{}-{}",
                    1 + dice.roll(COACHES),
                    1 + dice.roll(SEATS_PER_COACH)
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let (status, body) = hold(app, token, train, json!({"seats": seats})).await;
        match status {
            201 => {
                tally.held.fetch_add(1, Ordering::Relaxed);
                if dice.roll(4) != 0 {
                    let path = format!("/holds/{}", body["hold_id"].as_str().expect("hold_id"));
                    let (status, body) = call(app, Method::DELETE, &path, Some(token), None).await;
                    assert_eq!(status, 200, "{body}");
                    tally.released.fetch_add(1, Ordering::Relaxed);
                }
            }
            409 if body["detail"] == "Seats not available" => {
                tally.refused.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("a hold answered {other}: {body}"),
        }
    }
}

struct Checked {
    events: usize,
    holds: usize,
    releases: usize,
    /// Seats held again after an earlier hold of them ended.
    reheld: usize,
}

/// Folds the train's whole stream, event by event, and fails at the first position where a
/// seat would be taken twice, freed by what did not take it, or `seats_left` is wrong.
async fn oracle(app: &TestApp, train: i64) -> Checked {
    let stream = format!("train-{train}");
    let capacity = (COACHES * SEATS_PER_COACH) as usize;
    // Who takes each seat: a hold id or a booking id.
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut checked = Checked {
        events: 0,
        holds: 0,
        releases: 0,
        reheld: 0,
    };
    let mut ever_held: std::collections::HashSet<String> = std::collections::HashSet::new();
    for recorded in app.log().await.into_iter().filter(|e| e.stream == stream) {
        let event = domain::decode(
            &recorded.event_type,
            &recorded.metadata,
            recorded.data.clone(),
        )
        .expect("every event decodes");
        let at = recorded.position;
        let DomainEvent::Train(event) = event else {
            continue;
        };
        checked.events += 1;
        let seats_left = match &event {
            TrainEvent::SeatsHeld {
                hold_id,
                seats,
                seats_left,
                ..
            } => {
                checked.holds += 1;
                for seat in seats {
                    if !ever_held.insert(seat.to_string()) {
                        checked.reheld += 1;
                    }
                    let before = taken.insert(seat.to_string(), hold_id.to_string());
                    assert!(
                        before.is_none(),
                        "at {at}: {seat} held by {hold_id} while taken by {before:?}"
                    );
                }
                Some(*seats_left)
            }
            TrainEvent::HoldReleased {
                hold_id,
                seats,
                seats_left,
                ..
            }
            | TrainEvent::HoldExpired {
                hold_id,
                seats,
                seats_left,
                ..
            } => {
                if matches!(event, TrainEvent::HoldReleased { .. }) {
                    checked.releases += 1;
                }
                for seat in seats {
                    let before = taken.remove(&seat.to_string());
                    assert_eq!(
                        before.as_deref(),
                        Some(hold_id.as_str()),
                        "at {at}: {seat} freed by a hold that did not hold it"
                    );
                }
                Some(*seats_left)
            }
            TrainEvent::SeatBooked {
                seat,
                seats_left,
                booking_id,
                ..
            } => {
                if let Some(seat) = seat {
                    let before = taken.insert(seat.to_string(), booking_id.to_string());
                    assert!(
                        before.is_none(),
                        "at {at}: {seat} booked while taken by {before:?}"
                    );
                }
                Some(*seats_left)
            }
            TrainEvent::TrainRegistered { capacity: c, .. } => Some(*c),
            _ => None,
        };
        if let Some(seats_left) = seats_left {
            assert_eq!(
                seats_left as usize,
                capacity - taken.len(),
                "at {at}: seats_left is not the free seats"
            );
        }
    }
    checked
}
