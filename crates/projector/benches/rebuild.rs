//! Rebuild rate next to the rate of simply reading the same events out of the event store (the
//! ceiling), measured in one run over one generated log:
//!
//!   cargo bench -p projector --bench rebuild          (BENCH_EVENTS=1000000 by default)
//!
//! The log is trains of 500 seats, each with 450 bookings and 49 cancellations.

use chrono::Utc;
use domain::{
    BookingCancelReason, BookingId, DomainEvent, Route, TrainDetails, TrainEvent, TrainId,
    TravelTime,
};
use event_store::testing::TestDatabase;
use event_store::{EventStore, ExpectedRevision, Filter, NewEvent, PgEventStore, Position};
use projector::Projection;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const PER_TRAIN: u64 = 500;

fn encode(event: TrainEvent) -> NewEvent {
    event_store::NewEvent::from(domain::encode(&DomainEvent::Train(event)))
}

fn train_history(t: i64) -> Vec<NewEvent> {
    let at = Utc::now();
    let time = |raw: &str| TravelTime::parse(raw).expect("a valid time");
    let train_id = TrainId(t);
    let mut events = vec![encode(TrainEvent::TrainRegistered {
        train_id,
        details: TrainDetails {
            route: Route::parse(&format!("Route-{}", t % 50)).expect("a valid route"),
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
    for b in 0..450 {
        seats_left -= 1;
        events.push(encode(TrainEvent::SeatBooked {
            order_id: None,
            train_id,
            booking_id: BookingId(t * 1000 + b),
            user_credentials: format!("traveller-{b}").into(),
            seat_count: 1,
            seats_left,
            seat: None,
            class: None,
            price: None,
            booked_at: at,
        }));
    }
    for b in 0..49 {
        seats_left += 1;
        events.push(encode(TrainEvent::BookingCancelled {
            order_id: None,
            train_id,
            booking_id: BookingId(t * 1000 + b * 9),
            reason: BookingCancelReason::Requested,
            seats_left,
            cancelled_at: at,
        }));
    }
    events
}

#[tokio::main]
async fn main() {
    let wanted: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let trains = wanted.div_ceil(PER_TRAIN) as i64;
    let database = TestDatabase::create().await;
    let pool = database.pool(8).await;
    let store = PgEventStore::new(pool.clone()).await.expect("event store");
    projector::migrate(&pool).await.expect("migrate");

    let started = Instant::now();
    for t in 1..=trains {
        store
            .append(
                &TrainId(t).stream(),
                ExpectedRevision::NoStream,
                train_history(t),
            )
            .await
            .expect("append");
    }
    let events = store.count(None).await.expect("count").unwrap_or_default();
    println!(
        "generated {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sqlx::query("VACUUM ANALYZE event_store.events")
        .execute(&pool)
        .await
        .expect("vacuum");

    let started = Instant::now();
    let mut read = 0u64;
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .read_all(after, &Filter::all(), 10_000)
            .await
            .expect("read");
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        read += page.len() as u64;
    }
    let read_rate = read as f64 / started.elapsed().as_secs_f64();

    let report = projector::rebuild(
        &store,
        &pool,
        &Projection::ALL,
        true,
        &CancellationToken::new(),
    )
    .await
    .expect("rebuild")
    .expect("not interrupted");
    let rebuild_rate = report.events as f64 / report.elapsed.as_secs_f64();

    println!("{:<40} {:>12} {:>12}", "figure", "events", "events/s");
    println!(
        "{:<40} {read:>12} {read_rate:>12.0}",
        "read the log (ceiling)"
    );
    println!(
        "{:<40} {:>12} {rebuild_rate:>12.0}",
        "rebuild all projections", report.events
    );
    println!("rebuild / read ceiling: {:.2}", rebuild_rate / read_rate);
    for (projection, blocked) in &report.swaps {
        println!(
            "swap of {} blocked queries for {:.1} ms",
            projection.name(),
            blocked.as_secs_f64() * 1e3
        );
    }
}
