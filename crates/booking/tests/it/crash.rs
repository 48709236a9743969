//! SIGKILL the projector process at random moments while it works through 50,000 events,
//! restart it each time, then `booking verify` must find the read models exactly as a clean
//! replay of the log makes them.

use crate::stack::booking;
use chrono::Utc;
use domain::{
    BookingCancelReason, BookingId, DomainEvent, Route, TrainDetails, TrainEvent, TrainId,
    TravelTime,
};
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore, Position};
use std::hash::{BuildHasher, Hasher};
use std::process::Stdio;
use std::time::Duration;

pub(crate) const TRAINS: i64 = 100;
/// Per train: one registration, 450 bookings, 49 cancellations: 500 events.
pub(crate) const BOOKINGS: i64 = 450;
pub(crate) const CANCELLED: i64 = 49;

/// A random number below `bound`, without a dependency for it.
pub(crate) fn random_below(bound: u64) -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % bound
}

fn encode(event: TrainEvent) -> NewEvent {
    event_store::NewEvent::from(domain::encode(&DomainEvent::Train(event)))
}

pub(crate) async fn write_log(store: &PgEventStore) -> Position {
    let at = Utc::now();
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let mut last = Position::default();
    for t in 1..=TRAINS {
        let train_id = TrainId(t);
        let mut events = vec![encode(TrainEvent::TrainRegistered {
            train_id,
            details: TrainDetails {
                route: Route::parse(&format!("Route-{}", t % 7)).expect("a valid route"),
                departure_time: time("2024-09-25T06:30"),
                arrival_time: time("2024-09-26T11:40"),
            },
            capacity: 500,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: at,
        })];
        let mut seats_left = 500;
        for b in 0..BOOKINGS {
            seats_left -= 1;
            events.push(encode(TrainEvent::SeatBooked {
                order_id: None,
                train_id,
                booking_id: BookingId(t * 10_000 + b),
                user_credentials: format!("traveller-{b}").into(),
                seat_count: 1,
                seats_left,
                seat: None,
                class: None,
                price: None,
                booked_at: at,
            }));
        }
        for b in 0..CANCELLED {
            seats_left += 1;
            events.push(encode(TrainEvent::BookingCancelled {
                order_id: None,
                train_id,
                booking_id: BookingId(t * 10_000 + b * 3),
                reason: BookingCancelReason::Requested,
                seats_left,
                cancelled_at: at,
            }));
        }
        for chunk in events.chunks(250) {
            let appended = store
                .append(&train_id.stream(), ExpectedRevision::Any, chunk.to_vec())
                .await
                .expect("append");
            last = appended.position;
        }
    }
    last
}

async fn lowest_checkpoint(pool: &sqlx::PgPool) -> Option<Position> {
    let all = event_store::checkpoint::Checkpoints::all(pool)
        .await
        .unwrap_or_default();
    if all.len() < projector::Projection::ALL.len() {
        return None;
    }
    all.into_iter().map(|(_, at)| at).min()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_again_and_again_ends_up_exact() {
    let database = TestDatabase::create().await;
    let pool = database.pool(5).await;
    let store = PgEventStore::new(pool.clone()).await.expect("store");
    projector::migrate(&pool).await.expect("migrate");
    let last = write_log(&store).await;
    assert_eq!(store.count(None).await.expect("count"), Some(50_000));

    let projector_args = [
        "projector",
        "--ops-listen",
        "127.0.0.1:0",
        "--projector-batch-size",
        "200",
    ];
    let mut killed_mid_way = 0;
    for _ in 0..15 {
        let mut child = booking(&database.url)
            .args(projector_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the projector");
        tokio::time::sleep(Duration::from_millis(150 + random_below(600))).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        if lowest_checkpoint(&pool).await.is_some_and(|at| at < last) {
            killed_mid_way += 1;
        }
    }
    assert!(
        killed_mid_way >= 3,
        "only {killed_mid_way} kills landed before the end; the test proves little"
    );

    let mut child = booking(&database.url)
        .args(projector_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the projector");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while lowest_checkpoint(&pool).await.is_none_or(|at| at < last) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");

    let verify = booking(&database.url)
        .arg("verify")
        .output()
        .expect("run verify");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "verify found differences:\n{stdout}"
    );
    assert!(stdout.contains("read models match the log"), "{stdout}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.bookings")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, TRAINS * (BOOKINGS - CANCELLED));
}
