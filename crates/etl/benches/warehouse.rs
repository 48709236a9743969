//! The warehouse's two numbers, measured against the local PostgreSQL and RabbitMQ:
//!
//!   cargo bench -p etl --bench warehouse
//!
//! 1. Load rate: BENCH_EVENTS (default 500,000) feed messages are published to a fresh queue
//!    first; then the etl starts and the clock runs until the warehouse holds them all.
//!    Target: at least 30,000 events/s.
//! 2. End-to-end lag: the event store, the projector's feed and the etl run together while a
//!    writer appends BENCH_RATE (default 2,000) events/s for BENCH_SECS (default 30) seconds.
//!    Lag is the warehouse's `loaded_at` (taken just before the loading transaction commits)
//!    minus the event store's `recorded_at`, both from the same PostgreSQL clock.
//!    Target: p99 under 1 s.
//!
//! BENCH_PARTS=load,loader,broker,lag picks the figures (default load,lag); `loader` times
//! the database side alone, `broker` the RabbitMQ side alone (receive, parse, ack).

use chrono::{TimeZone, Utc};
use domain::{BookingId, DomainEvent, Route, TrainDetails, TrainEvent, TrainId, TravelTime};
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, NewEvent, PgEventStore, Position};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use projector::feed::{Amqp, FeedMessage};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const ROUTES: [&str; 5] = [
    "Chisinau-Bucuresti",
    "Iasi-Cluj",
    "Cluj-Timisoara",
    "Bucuresti-Constanta",
    "Brasov-Sibiu",
];

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn amqp(prefix: &str) -> Amqp {
    let url = std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    Amqp::new(
        url,
        format!("bench-{prefix}-{}", uuid::Uuid::now_v7().simple()),
    )
}

fn registered(train: i64) -> TrainEvent {
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    TrainEvent::TrainRegistered {
        train_id: TrainId(train),
        details: TrainDetails {
            route: Route::parse(ROUTES[(train % 5) as usize]).expect("a valid route"),
            departure_time: time("2024-10-20T07:00"),
            arrival_time: time("2024-10-20T15:00"),
        },
        capacity: 5000,
        stops: Vec::new(),
        layout: None,
        tariff: None,
        registered_at: Utc::now(),
    }
}

fn booked(train: i64, booking: i64, seats_left: u32) -> TrainEvent {
    TrainEvent::SeatBooked {
        order_id: None,
        train_id: TrainId(train),
        booking_id: BookingId(booking),
        user_credentials: format!("user-{booking}").into(),
        seat_count: 1,
        seats_left,
        seat: None,
        class: None,
        price: None,
        booked_at: Utc::now(),
    }
}

/// `count` messages: trains of one registration and up to 999 bookings, every tenth booking
/// cancelled again, positions increasing.
fn messages(count: usize) -> Vec<FeedMessage> {
    let base = Utc
        .with_ymd_and_hms(2024, 9, 1, 0, 0, 0)
        .single()
        .expect("an instant");
    let mut out = Vec::with_capacity(count);
    let mut train = 0i64;
    let mut in_train = 0i64;
    while out.len() < count {
        let n = out.len() as u64 + 1;
        let event = if in_train == 0 || in_train == 1000 {
            train += 1;
            in_train = 1;
            registered(train)
        } else {
            in_train += 1;
            let booking = train * 10_000 + in_train;
            if in_train % 10 == 0 {
                TrainEvent::BookingCancelled {
                    order_id: None,
                    train_id: TrainId(train),
                    booking_id: BookingId(booking - 1),
                    reason: domain::BookingCancelReason::Requested,
                    seats_left: 4000,
                    cancelled_at: base + chrono::Duration::minutes(in_train),
                }
            } else {
                booked(train, booking, 4000)
            }
        };
        let event = DomainEvent::Train(event);
        out.push(FeedMessage {
            id: uuid::Uuid::now_v7(),
            stream: TrainId(train).stream(),
            revision: in_train as u64,
            position: Position::new(n, n),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            data: event.encode(),
            recorded_at: Utc::now(),
        });
    }
    out
}

async fn loaded(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM warehouse.loaded_events")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Publishes `count` messages to a fresh queue; returns its names and how long it took.
async fn publish(count: usize) -> (Amqp, Duration) {
    let amqp = amqp("load");
    let messages = messages(count);
    let connection = amqp.connect().await.expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    amqp.declare(&channel).await.expect("declare");
    let started = Instant::now();
    for window in messages.chunks(5000) {
        let mut confirms = Vec::with_capacity(window.len());
        for message in window {
            let body = serde_json::to_vec(message).expect("json");
            confirms.push(
                channel
                    .basic_publish(
                        amqp.exchange().into(),
                        "".into(),
                        BasicPublishOptions::default(),
                        &body,
                        message.properties(),
                    )
                    .await
                    .expect("publish"),
            );
        }
        for confirm in confirms {
            assert!(confirm.await.expect("confirm").is_ack());
        }
    }
    let published = started.elapsed();
    connection.close(200, "done".into()).await.ok();
    println!(
        "publish to RabbitMQ (persistent, confirmed): {count} events in {:.1} s = {:.0} events/s",
        published.as_secs_f64(),
        count as f64 / published.as_secs_f64()
    );
    (amqp, published)
}

async fn load_rate(count: usize) {
    let warehouse_db = TestDatabase::create().await;
    let warehouse = warehouse_db.pool(8).await;
    etl::migrate(&warehouse).await.expect("migrate");
    let (amqp, _) = publish(count).await;

    let shutdown = CancellationToken::new();
    let settings = etl::Settings::new(warehouse_db.url.clone());
    let started = Instant::now();
    let etl_task = tokio::spawn(etl::run(
        amqp.clone(),
        warehouse.clone(),
        settings,
        shutdown.clone(),
    ));
    while loaded(&warehouse).await < count as i64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    shutdown.cancel();
    etl_task.await.ok();
    etl::testing::delete_topology(&amqp).await;
    println!(
        "warehouse load (RabbitMQ -> etl -> PostgreSQL): {count} events in {:.1} s = {:.0} events/s (target >= 30000)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
}

/// The broker side alone: receive, parse and acknowledge, no database.
async fn broker_rate(count: usize) {
    let (amqp, _) = publish(count).await;
    let started = Instant::now();
    let mut consumer = etl::FeedConsumer::connect(&amqp, 5000, Duration::from_millis(100))
        .await
        .expect("consumer");
    let mut received = 0;
    while received < count {
        let batch = consumer.next_batch().await.expect("batch");
        received += batch.len();
        consumer.ack(&batch).await.expect("ack");
    }
    let took = started.elapsed();
    drop(consumer);
    etl::testing::delete_topology(&amqp).await;
    println!(
        "broker alone (receive, parse, ack; no database): {count} events in {:.1} s = {:.0} events/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
}

fn encode(event: TrainEvent) -> NewEvent {
    event_store::NewEvent::from(domain::encode(&DomainEvent::Train(event)))
}

async fn lag(rate: u64, secs: u64) {
    const TRAINS: i64 = 200;
    // Appends per tick, each of a few events to one train: how a busy command API writes.
    const TICK: Duration = Duration::from_millis(50);
    let log_db = TestDatabase::create().await;
    let log = log_db.pool(30).await;
    let store = PgEventStore::new(log.clone()).await.expect("store");
    projector::migrate(&log).await.expect("migrate");
    let warehouse_db = TestDatabase::create().await;
    let warehouse = warehouse_db.pool(8).await;
    etl::migrate(&warehouse).await.expect("migrate");
    let amqp = amqp("lag");

    for train in 1..=TRAINS {
        store
            .append(
                &TrainId(train).stream(),
                ExpectedRevision::NoStream,
                vec![encode(registered(train))],
            )
            .await
            .expect("register");
    }
    let shutdown = CancellationToken::new();
    let tasks = vec![
        tokio::spawn(projector::feed::run(
            store.clone(),
            log.clone(),
            amqp.clone(),
            projector::feed::Settings::default(),
            shutdown.clone(),
        )),
        tokio::spawn(etl::run(
            amqp.clone(),
            warehouse.clone(),
            etl::Settings::new(warehouse_db.url.clone()),
            shutdown.clone(),
        )),
    ];
    while loaded(&warehouse).await < TRAINS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let per_tick = (rate as f64 * TICK.as_secs_f64()).round() as i64;
    let appends_per_tick = 10i64;
    let per_append = (per_tick / appends_per_tick).max(1);
    let ticks = (secs as f64 / TICK.as_secs_f64()) as i64;
    let started = tokio::time::Instant::now();
    let mut written = 0i64;
    let mut booking = 0i64;
    for tick in 0..ticks {
        tokio::time::sleep_until(started + TICK * u32::try_from(tick).unwrap_or(u32::MAX)).await;
        let mut appends = Vec::new();
        for a in 0..appends_per_tick {
            let train = (tick * appends_per_tick + a) % TRAINS + 1;
            let events: Vec<NewEvent> = (0..per_append)
                .map(|_| {
                    booking += 1;
                    encode(booked(train, booking, 4000))
                })
                .collect();
            written += events.len() as i64;
            let store = store.clone();
            appends.push(tokio::spawn(async move {
                store
                    .append(&TrainId(train).stream(), ExpectedRevision::Any, events)
                    .await
                    .expect("append")
            }));
        }
        for append in appends {
            append.await.expect("append task");
        }
    }
    let wrote_for = started.elapsed();
    let target = TRAINS + written;
    while loaded(&warehouse).await < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    for task in tasks {
        task.await.ok();
    }
    etl::testing::delete_topology(&amqp).await;

    let (p50, p95, p99, max): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
                max(lag)
         FROM (SELECT extract(epoch FROM loaded_at - recorded_at)::float8 * 1000 AS lag
               FROM warehouse.loaded_events WHERE event_type = 'SeatBooked') l",
    )
    .fetch_one(&warehouse)
    .await
    .expect("lag percentiles");
    println!(
        "steady load: {written} events in {:.1} s = {:.0} events/s (asked {rate})",
        wrote_for.as_secs_f64(),
        written as f64 / wrote_for.as_secs_f64()
    );
    println!(
        "end-to-end lag (append commit -> warehouse commit): p50 {p50:.0} ms, p95 {p95:.0} ms, p99 {p99:.0} ms, max {max:.0} ms (target p99 < 1000 ms)"
    );
}

/// The loader alone, without the broker: where the time goes.
async fn loader_rate(count: usize, batch: usize) {
    let warehouse_db = TestDatabase::create().await;
    let warehouse = warehouse_db.pool(8).await;
    etl::migrate(&warehouse).await.expect("migrate");
    let messages = messages(count);
    let started = Instant::now();
    for chunk in messages.chunks(batch) {
        etl::load(&warehouse, chunk).await.expect("load");
    }
    let took = started.elapsed();
    println!(
        "loader alone (no broker, batches of {batch}): {count} events in {:.1} s = {:.0} events/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let events: usize = env("BENCH_EVENTS", 500_000);
    let rate: u64 = env("BENCH_RATE", 2000);
    let secs: u64 = env("BENCH_SECS", 30);
    // BENCH_PARTS picks figures: load (through RabbitMQ), loader (database only), lag.
    let parts: String = env("BENCH_PARTS", "load,lag".to_owned());
    for part in parts.split(',') {
        match part.trim() {
            "load" => load_rate(events).await,
            "loader" => loader_rate(events, 5000).await,
            "broker" => broker_rate(events).await,
            "lag" => lag(rate, secs).await,
            other => eprintln!("unknown BENCH_PARTS entry {other:?}"),
        }
    }
}
