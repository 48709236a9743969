//! A log of train activity with a known outcome, and ways to wait for the projector.

use chrono::{TimeZone, Utc};
use domain::{
    BookingCancelReason, BookingId, DomainEvent, Route, TrainDetails, TrainEvent, TrainId,
    TravelTime,
};
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore, Position};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the read models must hold once the projector has caught up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// train id → seats left
    pub trains: BTreeMap<i64, i32>,
    /// booking id → (train id, holder)
    pub bookings: BTreeMap<i64, (i64, String)>,
}

fn encode(event: TrainEvent) -> NewEvent {
    event_store::NewEvent::from(domain::encode(&DomainEvent::Train(event)))
}

/// Appends `trains` trains of 100 seats; on each, 60 bookings, 10 cancelled and 5 handed to
/// someone else; every tenth train is removed at the end. Events go out in small appends.
pub async fn write_history(store: &PgEventStore, trains: i64) -> (Expected, Position) {
    let at = Utc
        .with_ymd_and_hms(2024, 9, 1, 12, 0, 0)
        .single()
        .expect("a fixed instant");
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let mut expected = Expected::default();
    let mut last = Position::default();
    for t in 1..=trains {
        let train_id = TrainId(t);
        let mut events = vec![TrainEvent::TrainRegistered {
            train_id,
            details: TrainDetails {
                route: Route::parse("Chisinau-Bucuresti").expect("a valid route"),
                departure_time: time("2024-09-25T06:30"),
                arrival_time: time("2024-09-26T11:40"),
            },
            capacity: 100,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at,
        }];
        let mut seats_left = 100;
        for b in 0..60 {
            let booking_id = BookingId(t * 1000 + b);
            seats_left -= 1;
            events.push(TrainEvent::SeatBooked {
                order_id: None,
                train_id,
                booking_id,
                user_credentials: format!("user-{b}").into(),
                seat_count: 1,
                seats_left,
                seat: None,
                class: None,
                price: None,
                booked_at: at,
            });
            expected
                .bookings
                .insert(booking_id.0, (t, format!("user-{b}")));
        }
        for b in 0..10 {
            let booking_id = BookingId(t * 1000 + b);
            seats_left += 1;
            events.push(TrainEvent::BookingCancelled {
                order_id: None,
                train_id,
                booking_id,
                reason: BookingCancelReason::Requested,
                seats_left,
                cancelled_at: at,
            });
            expected.bookings.remove(&booking_id.0);
        }
        for b in 10..15 {
            let booking_id = BookingId(t * 1000 + b);
            let holder = format!("renamed-{b}");
            events.push(TrainEvent::BookingHolderChanged {
                train_id,
                booking_id,
                user_credentials: holder.clone().into(),
                changed_at: at,
            });
            expected.bookings.insert(booking_id.0, (t, holder));
        }
        if t % 10 == 0 {
            for b in 10..60 {
                seats_left += 1;
                events.push(TrainEvent::BookingCancelled {
                    order_id: None,
                    train_id,
                    booking_id: BookingId(t * 1000 + b),
                    reason: BookingCancelReason::TrainRemoved,
                    seats_left,
                    cancelled_at: at,
                });
                expected.bookings.remove(&(t * 1000 + b));
            }
            events.push(TrainEvent::TrainRemoved {
                train_id,
                removed_at: at,
            });
        } else {
            expected
                .trains
                .insert(t, i32::try_from(seats_left).expect("seats fit"));
        }
        for chunk in events.chunks(7) {
            let appended = store
                .append(
                    &train_id.stream(),
                    ExpectedRevision::Any,
                    chunk.iter().cloned().map(encode).collect(),
                )
                .await
                .expect("append");
            last = appended.position;
        }
    }
    (expected, last)
}

/// Reads what the read models hold now.
pub async fn actual(pool: &PgPool) -> Expected {
    let trains: Vec<(i64, i32)> =
        sqlx::query_as("SELECT id, available_seats FROM read_models.trains")
            .fetch_all(pool)
            .await
            .expect("trains");
    let bookings: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, train_id, user_credentials FROM read_models.bookings")
            .fetch_all(pool)
            .await
            .expect("bookings");
    Expected {
        trains: trains.into_iter().collect(),
        bookings: bookings
            .into_iter()
            .map(|(id, train, user)| (id, (train, user)))
            .collect(),
    }
}

/// Waits until every projection's checkpoint has reached `position`.
pub async fn caught_up(pool: &PgPool, position: Position) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let checkpoints = event_store::checkpoint::Checkpoints::all(pool)
            .await
            .unwrap_or_default();
        let done = checkpoints.len() == projector::Projection::ALL.len()
            && checkpoints.iter().all(|(_, at)| *at >= position);
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projector did not reach {position}: {checkpoints:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Advisory locks held in this database right now: one per projection leader.
pub async fn leaders(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await
    .expect("locks")
}
