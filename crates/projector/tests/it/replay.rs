//! rebuild and verify: fresh copies swapped in under load, interruption, tampering, and old
//! event versions read through their upcasters on every path.

use crate::support::{actual, caught_up, write_history};
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore};
use projector::Projection;
use tokio_util::sync::CancellationToken;

struct Fixture {
    _database: TestDatabase,
    pool: sqlx::PgPool,
    store: PgEventStore,
    live: CancellationToken,
}

impl Fixture {
    async fn new() -> Self {
        let database = TestDatabase::create().await;
        let pool = database.pool(20).await;
        let store = PgEventStore::new(pool.clone()).await.expect("store");
        projector::migrate(&pool).await.expect("migrate");
        let live = CancellationToken::new();
        let settings = projector::Settings {
            batch_size: 100,
            standby_poll_ms: 50,
        };
        tokio::spawn(projector::run(
            store.clone(),
            pool.clone(),
            settings,
            live.clone(),
        ));
        Self {
            _database: database,
            pool,
            store,
            live,
        }
    }
}

impl Fixture {
    /// Rebuilds every projection to the end (`fresh`: from position zero).
    async fn rebuild(&self, fresh: bool) -> projector::RebuildReport {
        projector::rebuild(
            &self.store,
            &self.pool,
            &Projection::ALL,
            fresh,
            &CancellationToken::new(),
        )
        .await
        .expect("rebuild")
        .expect("not interrupted")
    }

    /// Every difference between the live models and the log.
    async fn verify(&self) -> Vec<projector::Difference> {
        projector::verify(&self.store, &self.pool, &Projection::ALL)
            .await
            .expect("verify")
            .differences
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.live.cancel();
    }
}

async fn bookings_count(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM read_models.bookings")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_under_load_swaps_in_complete_models_and_loses_nothing() {
    let fx = Fixture::new().await;
    let (_, last) = write_history(&fx.store, 40).await;
    caught_up(&fx.pool, last).await;

    // Writers keep adding trains and bookings (never cancelling) during the rebuild, and a
    // reader checks the live model never shrinks: a half-built copy would.
    let writing = CancellationToken::new();
    let writer = {
        let (store, writing) = (fx.store.clone(), writing.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !writing.is_cancelled() && n < 400 {
                more_bookings(&store, 1000 + n).await;
                n += 1;
            }
        })
    };
    let watcher = {
        let (pool, writing) = (fx.pool.clone(), writing.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while !writing.is_cancelled() {
                let now = bookings_count(&pool).await;
                assert!(
                    now >= seen,
                    "the bookings model shrank from {seen} to {now}"
                );
                seen = now;
                tokio::task::yield_now().await;
            }
        })
    };
    let report = fx.rebuild(false).await;
    writing.cancel();
    writer.await.expect("writer");
    watcher.await.expect("the model never shrank");

    assert_eq!(report.swaps.len(), projector::Projection::ALL.len());
    let head = fx
        .store
        .read_all(None, &event_store::Filter::all(), usize::MAX)
        .await
        .expect("log");
    caught_up(&fx.pool, head.last().expect("events").position).await;
    let differences = fx.verify().await;
    assert_eq!(differences, vec![], "the swapped-in models match the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rebuild_continues_where_it_stopped() {
    let fx = Fixture::new().await;
    let (expected, last) = write_history(&fx.store, 200).await;
    caught_up(&fx.pool, last).await;

    let interrupted = CancellationToken::new();
    interrupted.cancel();
    let first = projector::rebuild(&fx.store, &fx.pool, &Projection::ALL, false, &interrupted)
        .await
        .expect("rebuild");
    assert!(
        first.is_none(),
        "a cancelled rebuild reports the interruption"
    );

    let second = fx.rebuild(false).await;
    let total = fx
        .store
        .count(None)
        .await
        .expect("count")
        .expect("postgres counts");
    assert!(
        second.events < total,
        "continued ({} of {total} events), not restarted",
        second.events
    );
    assert_eq!(actual(&fx.pool).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_tampered_row_and_leaves_it_alone() {
    let fx = Fixture::new().await;
    let (_, last) = write_history(&fx.store, 3).await;
    caught_up(&fx.pool, last).await;
    sqlx::query("UPDATE read_models.trains SET available_seats = 999 WHERE id = 2")
        .execute(&fx.pool)
        .await
        .expect("tamper");
    sqlx::query("DELETE FROM read_models.bookings WHERE id = 1020")
        .execute(&fx.pool)
        .await
        .expect("tamper");

    let differences = fx.verify().await;
    let found: Vec<(&str, &str)> = differences
        .iter()
        .map(|d| (d.table, d.key.as_str()))
        .collect();
    assert_eq!(found, vec![("trains", "2"), ("bookings", "1020")]);
    assert!(differences[1].live.is_none() && differences[1].rebuilt.is_some());
    let seats: i32 =
        sqlx::query_scalar("SELECT available_seats FROM read_models.trains WHERE id = 2")
            .fetch_one(&fx.pool)
            .await
            .expect("seats");
    assert_eq!(seats, 999, "verify never writes to the live models");
}

/// A log written by the first schema version (SeatBooked without `seat_count`), read by every
/// path: the live projection, a rebuild and verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_event_version_is_upcast_on_every_path() {
    let fx = Fixture::new().await;
    let fixture = |name: &str| -> serde_json::Value {
        let path = format!(
            "{}/../domain/tests/fixtures/events/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    };
    let stored = |event_type: &str, version: u32| {
        NewEvent::new(event_type, fixture(&format!("{event_type}.v{version}")))
            .with_metadata(serde_json::json!({ "schema_version": version }))
    };
    let appended = fx
        .store
        .append(
            "train-7",
            ExpectedRevision::NoStream,
            vec![stored("TrainRegistered", 1), stored("SeatBooked", 1)],
        )
        .await
        .expect("append the old log");
    caught_up(&fx.pool, appended.position).await;
    let live = actual(&fx.pool).await;
    assert_eq!(live.trains.get(&7), Some(&119));
    assert_eq!(
        live.bookings.get(&42),
        Some(&(7, "alice@example.com".to_owned()))
    );

    fx.rebuild(true).await;
    assert_eq!(
        actual(&fx.pool).await,
        live,
        "rebuild reads the old version the same way"
    );
    let differences = fx.verify().await;
    assert_eq!(differences, vec![]);

    // The warehouse feed publishes the upcast, current shape.
    let log = fx.store.read_stream("train-7").await.expect("read");
    let message = projector::feed::FeedMessage::from_recorded(&log[1]).expect("feed message");
    assert_eq!(message.schema_version, 2);
    assert_eq!(message.data["seat_count"], 1);
}

/// Registers train `id` with 100 seats and books five of them.
async fn more_bookings(store: &PgEventStore, id: i64) {
    use domain::{DomainEvent, Route, TrainDetails, TrainEvent, TrainId, TravelTime};
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let at = chrono::Utc::now();
    let train_id = TrainId(id);
    let mut events = vec![TrainEvent::TrainRegistered {
        train_id,
        details: TrainDetails {
            route: Route::parse("Iasi-Cluj").expect("a valid route"),
            departure_time: time("2024-10-01T08:00"),
            arrival_time: time("2024-10-01T16:00"),
        },
        capacity: 100,
        stops: Vec::new(),
        layout: None,
        tariff: None,
        registered_at: at,
    }];
    for b in 0..5 {
        events.push(TrainEvent::SeatBooked {
            order_id: None,
            train_id,
            booking_id: domain::BookingId(id * 1000 + b),
            user_credentials: format!("late-{b}").into(),
            seat_count: 1,
            seats_left: 99 - u32::try_from(b).expect("small"),
            seat: None,
            class: None,
            price: None,
            booked_at: at,
        });
    }
    let new = events
        .into_iter()
        .map(|e| {
            let e = DomainEvent::Train(e);
            NewEvent::new(e.event_type(), e.encode())
                .with_metadata(serde_json::json!({ "schema_version": e.schema_version() }))
        })
        .collect();
    store
        .append(&train_id.stream(), ExpectedRevision::NoStream, new)
        .await
        .expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_keeps_credentials_with_quotes_commas_and_newlines_intact() {
    use domain::{BookingId, DomainEvent, TrainEvent, TrainId};
    let fx = Fixture::new().await;
    let (_, _) = write_history(&fx.store, 1).await;
    let awkward = "O'Neil, \"Jr.\"\nsecond line \\ backslash";
    let event = DomainEvent::Train(TrainEvent::SeatBooked {
        order_id: None,
        train_id: TrainId(1),
        booking_id: BookingId(999),
        user_credentials: awkward.into(),
        seat_count: 1,
        seats_left: 49,
        seat: None,
        class: None,
        price: None,
        booked_at: chrono::Utc::now(),
    });
    let new = event_store::NewEvent::from(domain::encode(&event));
    let appended = fx
        .store
        .append("train-1", ExpectedRevision::Any, vec![new])
        .await
        .expect("append");
    caught_up(&fx.pool, appended.position).await;

    fx.rebuild(true).await;
    let stored: String =
        sqlx::query_scalar("SELECT user_credentials FROM read_models.bookings WHERE id = 999")
            .fetch_one(&fx.pool)
            .await
            .expect("the booking");
    assert_eq!(stored, awkward);
    assert_eq!(fx.verify().await, vec![]);
}
