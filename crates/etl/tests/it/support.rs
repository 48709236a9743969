//! A log database, a warehouse database and RabbitMQ names per test; the hand-computed
//! scenario; waiting with a deadline; the canonical warehouse dump
//! (from `etl::testing`) for comparisons.

pub mod scenario;

pub use etl::testing::dump;

use event_store::testing::TestDatabase;
use event_store::{EventStore, PgEventStore};
use projector::feed::{Amqp, FeedMessage};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The broker tests use; `TEST_AMQP_URL` overrides it.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Silent unless `TEST_LOG=1`.
pub fn logs() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,etl=debug,projector=debug,lapin=warn,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

/// Everything one test needs: the log (event store and read models), a warehouse, and
/// exchange and queue names of its own.
pub struct World {
    /// Held so the database lives as long as the test.
    pub _log_db: TestDatabase,
    pub log: PgPool,
    pub store: PgEventStore,
    pub warehouse_db: TestDatabase,
    pub warehouse: PgPool,
    pub amqp: Amqp,
}

impl World {
    pub async fn new() -> Self {
        logs();
        let log_db = TestDatabase::create().await;
        let log = log_db.pool(20).await;
        let store = PgEventStore::new(log.clone()).await.expect("event store");
        projector::migrate(&log).await.expect("migrate read models");
        let warehouse_db = TestDatabase::create().await;
        let warehouse = warehouse_db.pool(8).await;
        etl::migrate(&warehouse).await.expect("migrate warehouse");
        let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
        Self {
            _log_db: log_db,
            log,
            store,
            warehouse_db,
            warehouse,
            amqp: Amqp::new(amqp_url(), prefix),
        }
    }

    /// A second, empty warehouse, e.g. for a backfill to compare with.
    pub async fn another_warehouse() -> (TestDatabase, PgPool) {
        let db = TestDatabase::create().await;
        let pool = db.pool(8).await;
        etl::migrate(&pool).await.expect("migrate warehouse");
        (db, pool)
    }

    /// Starts the feed and the etl against `amqp` (which may go through a proxy).
    pub fn start(
        &self,
        amqp: &Amqp,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let feed = projector::feed::Settings {
            batch_size: 500,
            linger_ms: 20,
            standby_poll_ms: 50,
            max_backoff_ms: 500,
        };
        let settings = etl::Settings {
            database_url: self.warehouse_db.url.clone(),
            batch_size: 500,
            flush_ms: 20,
            consumers: 2,
        };
        vec![
            tokio::spawn(projector::feed::run(
                self.store.clone(),
                self.log.clone(),
                amqp.clone(),
                feed,
                shutdown.clone(),
            )),
            tokio::spawn(etl::run(
                amqp.clone(),
                self.warehouse.clone(),
                settings,
                shutdown.clone(),
            )),
        ]
    }

    /// Every message the feed would publish for the log as it stands.
    pub async fn messages(&self) -> Vec<FeedMessage> {
        let events = self
            .store
            .read_all(None, &FeedMessage::filter(), 1_000_000)
            .await
            .expect("read the log");
        events
            .iter()
            .map(|e| FeedMessage::from_recorded(e).expect("decodable"))
            .collect()
    }

    /// Deletes this test's exchange and queue.
    pub async fn cleanup(&self) {
        etl::testing::delete_topology(&self.amqp).await;
    }
}

/// A day written `yyyy-mm-dd`.
pub fn day(raw: &str) -> chrono::NaiveDate {
    raw.parse().expect("a valid date")
}

/// The rows of the report table `name`.
pub fn table(tables: &[etl::Table], name: &str) -> Vec<Vec<String>> {
    tables
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.rows.clone())
        .expect("a table")
}

/// A new warehouse loaded with `messages` one at a time, newest first: the worst order.
pub async fn load_newest_first(messages: &[FeedMessage]) -> (TestDatabase, PgPool) {
    let (db, pool) = World::another_warehouse().await;
    for message in messages.iter().rev() {
        etl::load(&pool, std::slice::from_ref(message))
            .await
            .expect("one by one, newest first");
    }
    (db, pool)
}

/// Events in the warehouse's ledger.
pub async fn loaded(warehouse: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM warehouse.loaded_events")
        .fetch_one(warehouse)
        .await
        .expect("count loaded events")
}

/// Waits until the warehouse holds `count` events; fails after a minute.
pub async fn wait_loaded(warehouse: &PgPool, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = loaded(warehouse).await;
        if now >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warehouse holds {now} of {count} events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Appends a generated history: `trains` trains (numbered from `first`) over five routes,
/// each with `bookings` bookings made over the weeks before departure; every third booking is
/// cancelled, every fourth train changes its departure, every seventh is removed. Returns
/// how many events it wrote.
pub async fn generate(store: &PgEventStore, first: i64, trains: i64, bookings: i64) -> i64 {
    use chrono::Duration as Days;
    use domain::{BookingCancelReason, BookingId, Route, TrainDetails, TrainEvent, TrainId};
    use event_store::ExpectedRevision;
    let routes = [
        "Chisinau-Bucuresti",
        "Iasi-Cluj",
        "Cluj-Timisoara",
        "Bucuresti-Constanta",
        "Brasov-Sibiu",
    ];
    let start = scenario::at(1, 0);
    let mut written = 0;
    for t in first..first + trains {
        let train_id = TrainId(t);
        let departure = start + Days::days(30 + t % 40) + Days::hours(t % 24);
        let details = |departure: chrono::DateTime<chrono::Utc>| TrainDetails {
            route: Route::parse(routes[usize::try_from(t % 5).unwrap_or_default()]).expect("route"),
            departure_time: departure.naive_utc().into(),
            arrival_time: (departure + Days::hours(6)).naive_utc().into(),
        };
        let capacity = u32::try_from(bookings + 10).expect("seats");
        let mut events = vec![TrainEvent::TrainRegistered {
            train_id,
            details: details(departure),
            capacity,
            stops: Vec::new(),
            layout: None,
            tariff: None,
            registered_at: start,
        }];
        let mut left = capacity;
        let mut active = Vec::new();
        for b in 0..bookings {
            let booking_id = BookingId(t * 100_000 + b);
            let when = start + Days::hours(b * 7 % (24 * 28)) + Days::minutes(b);
            left -= 1;
            events.push(TrainEvent::SeatBooked {
                order_id: None,
                train_id,
                booking_id,
                user_credentials: format!("user-{b}").into(),
                seat_count: 1,
                seats_left: left,
                seat: None,
                class: None,
                price: None,
                booked_at: when,
            });
            if b % 3 == 2 {
                left += 1;
                events.push(TrainEvent::BookingCancelled {
                    order_id: None,
                    train_id,
                    booking_id,
                    reason: BookingCancelReason::Requested,
                    seats_left: left,
                    cancelled_at: when + Days::hours(5),
                });
            } else {
                active.push(booking_id);
            }
            if t % 4 == 0 && b == bookings / 2 {
                events.push(TrainEvent::TrainDetailsChanged {
                    train_id,
                    details: details(departure + Days::days(2)),
                    capacity,
                    seats_left: left,
                    layout: None,
                    changed_at: when + Days::minutes(30),
                });
            }
        }
        if t % 7 == 0 {
            let removed_at = start + Days::days(29);
            for booking_id in active {
                left += 1;
                events.push(TrainEvent::BookingCancelled {
                    order_id: None,
                    train_id,
                    booking_id,
                    reason: BookingCancelReason::TrainRemoved,
                    seats_left: left,
                    cancelled_at: removed_at,
                });
            }
            events.push(TrainEvent::TrainRemoved {
                train_id,
                removed_at,
            });
        }
        written += events.len() as i64;
        for chunk in events.chunks(50) {
            store
                .append(
                    &train_id.stream(),
                    ExpectedRevision::Any,
                    chunk.iter().cloned().map(scenario::encode).collect(),
                )
                .await
                .expect("append");
        }
    }
    written
}

/// A warehouse loaded directly from the log, in one batch: the reference others must equal.
pub async fn reference(world: &World) -> Vec<String> {
    let (_db, pool) = World::another_warehouse().await;
    etl::load(&pool, &world.messages().await)
        .await
        .expect("load");
    dump(&pool).await
}
