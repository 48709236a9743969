//! Two projector instances on one database: one leads each projection, the other stands by
//! and takes over when the leader goes away.

use crate::support::{actual, caught_up, leaders, write_history};
use event_store::PgEventStore;
use event_store::testing::TestDatabase;
use sqlx::Connection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn settings() -> projector::Settings {
    projector::Settings {
        batch_size: 100,
        standby_poll_ms: 50,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_stands_by_and_takes_over_when_the_first_stops() {
    let database = TestDatabase::create().await;
    let pool = database.pool(20).await;
    let store = PgEventStore::new(pool.clone()).await.expect("store");
    projector::migrate(&pool).await.expect("migrate");

    let first = CancellationToken::new();
    let first_run = tokio::spawn(projector::run(
        store.clone(),
        pool.clone(),
        settings(),
        first.clone(),
    ));
    let (expected, last) = write_history(&store, 10).await;
    caught_up(&pool, last).await;

    let second = CancellationToken::new();
    let second_run = tokio::spawn(projector::run(
        store.clone(),
        pool.clone(),
        settings(),
        second.clone(),
    ));
    // Give the standby many chances to (wrongly) take a lead it must not get.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        leaders(&pool).await,
        projector::Projection::ALL.len() as i64,
        "exactly one leader per projection"
    );
    assert_eq!(actual(&pool).await, expected);

    first.cancel();
    first_run.await.expect("first instance stopped");
    let store_more = PgEventStore::new(pool.clone()).await.expect("store");
    let more_last = write_more(&store_more).await;
    caught_up(&pool, more_last).await;
    assert_eq!(
        leaders(&pool).await,
        projector::Projection::ALL.len() as i64,
        "the standby took over every projection"
    );
    let now = actual(&pool).await;
    assert_eq!(
        now.trains.get(&101),
        Some(&100),
        "the new train was projected by the standby"
    );

    second.cancel();
    second_run.await.expect("second instance stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_leads_the_projections_that_are_free_and_takes_the_others_when_they_free_up() {
    let database = TestDatabase::create().await;
    let pool = database.pool(20).await;
    let store = PgEventStore::new(pool.clone()).await.expect("store");
    projector::migrate(&pool).await.expect("migrate");
    // Another instance leads `bookings`: its lock, held on a connection of its own.
    let mut other = pool.acquire().await.expect("a connection").detach();
    sqlx::query("SELECT pg_advisory_lock(hashtext('projection:bookings'))")
        .execute(&mut other)
        .await
        .expect("the other instance's lock");

    let shutdown = CancellationToken::new();
    let run = tokio::spawn(projector::run(
        store.clone(),
        pool.clone(),
        settings(),
        shutdown.clone(),
    ));
    let (expected, last) = write_history(&store, 10).await;
    let checkpoint = |name: &'static str| {
        let pool = pool.clone();
        async move {
            event_store::checkpoint::Checkpoints::all(&pool)
                .await
                .expect("checkpoints")
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, at)| at)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while checkpoint("trains").await < Some(last) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "trains did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Another standby poll or two: it must leave the other instance's projection alone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        checkpoint("bookings").await,
        None,
        "bookings is not this process's"
    );

    // The other instance dies: this one takes `bookings` over, from its start, and reads the
    // log again for it alone without touching the others twice.
    other.close().await.expect("the other instance gone");
    caught_up(&pool, last).await;
    assert_eq!(actual(&pool).await, expected);
    assert_eq!(
        leaders(&pool).await,
        projector::Projection::ALL.len() as i64,
        "one process leads them all now"
    );

    shutdown.cancel();
    run.await.expect("stopped");
}

/// Registers one more train, number 101, and returns where it landed.
async fn write_more(store: &PgEventStore) -> event_store::Position {
    use domain::{DomainEvent, Route, TrainDetails, TrainEvent, TrainId, TravelTime};
    use event_store::{EventStore, ExpectedRevision};
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let event = DomainEvent::Train(TrainEvent::TrainRegistered {
        train_id: TrainId(101),
        details: TrainDetails {
            route: Route::parse("Iasi-Cluj").expect("a valid route"),
            departure_time: time("2024-10-01T08:00"),
            arrival_time: time("2024-10-01T16:00"),
        },
        capacity: 100,
        stops: Vec::new(),
        layout: None,
        tariff: None,
        registered_at: chrono::Utc::now(),
    });
    let new = event_store::NewEvent::from(domain::encode(&event));
    let appended = store
        .append("train-101", ExpectedRevision::NoStream, vec![new])
        .await
        .expect("append");
    appended.position
}
