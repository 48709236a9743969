//! Prices and holds in the warehouse: revenue, average price per class and hold outcomes on a
//! small history worked out by hand, loaded live and then redelivered; the hold fact built
//! the same in any order; held seats counted as taken in the daily seats.
//!
//! The history (September 2024, UTC):
//! - Train 10, Chisinau-Bucuresti, EUR, 20 seats. Sep 10: bookings 1001 (second, 1500),
//!   1002 (first, 2500), 1003 (second, 1500), 1004 (second, 1000, cancelled 13:30); hold H1
//!   (2 seats, 3000) released by its owner; hold H3 (1 seat) expired. Sep 11: booking 1005
//!   (second, 1700); hold H4 (1 seat) still active; hold H5 (seat 2-9, 1500) bought by an
//!   order, its ticket booking 1006 (second, 1500).
//! - Train 11, Iasi-Cluj, RON: booking 1101 (first, 9000) on Sep 10.
//! - Train 12, Chisinau-Bucuresti, registered before prices: booking 1201 on Sep 10, without
//!   class or price.
//! - Train 13, Iasi-Cluj, EUR: hold H2 (2 seats, 4000) on Sep 10, released when the train is
//!   removed.

use crate::support::scenario::{self, details, encode, rows};
use crate::support::{World, day, dump, load_newest_first, table, wait_loaded};
use chrono::{DateTime, TimeZone, Utc};
use domain::{
    BookingCancelReason, BookingId, Currency, HoldId, HoldReleaseReason, Money, OrderId, Quote,
    QuoteLine, SeatClass, SeatId, TrainEvent, TrainId, UserId,
};
use event_store::{EventStore, ExpectedRevision, PgEventStore};
use tokio_util::sync::CancellationToken;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, day, hour, minute, 0)
        .single()
        .expect("a valid instant")
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("a valid currency")
}

fn seat(raw: &str) -> SeatId {
    SeatId::parse(raw).expect("a valid seat")
}

fn hold_id(raw: &str) -> HoldId {
    HoldId::parse(raw).expect("a valid hold id")
}

fn registered(train: i64, route: &str, capacity: u32, when: DateTime<Utc>) -> TrainEvent {
    TrainEvent::TrainRegistered {
        train_id: TrainId(train),
        details: details(route, "2024-10-01T08:00", "2024-10-01T18:00"),
        capacity,
        stops: Vec::new(),
        layout: None,
        tariff: None,
        registered_at: when,
    }
}

/// A booking of one seat; `price` is (class, amount, currency), None before prices existed.
fn booked(
    train: i64,
    booking: i64,
    price: Option<(SeatClass, i64, &str)>,
    seats_left: u32,
    when: DateTime<Utc>,
) -> TrainEvent {
    let mut event = scenario::booked(train, booking, seats_left, when);
    if let (
        TrainEvent::SeatBooked {
            seat: booked_seat,
            class: booked_class,
            price: booked_price,
            ..
        },
        Some((class, amount, code)),
    ) = (&mut event, price)
    {
        *booked_seat = Some(seat(&format!("1-{}", booking % 100)));
        *booked_class = Some(class);
        *booked_price = Some(Money {
            amount,
            currency: currency(code),
        });
    }
    event
}

/// A hold of second-class seats at `each` per seat, in EUR.
fn held(
    train: i64,
    hold: &str,
    seats: &[&str],
    each: i64,
    left: u32,
    when: DateTime<Utc>,
) -> TrainEvent {
    let seats: Vec<SeatId> = seats.iter().map(|s| seat(s)).collect();
    let lines: Vec<QuoteLine> = seats
        .iter()
        .map(|s| QuoteLine {
            seat: s.clone(),
            class: SeatClass::Second,
            amount: each,
        })
        .collect();
    TrainEvent::SeatsHeld {
        train_id: TrainId(train),
        hold_id: hold_id(hold),
        owner: UserId(7),
        quote: Quote {
            total: lines.iter().map(|l| l.amount).sum(),
            currency: currency("EUR"),
            lines,
        },
        seats,
        expires_at: when + chrono::Duration::minutes(10),
        seats_left: left,
        held_at: when,
    }
}

fn order() -> OrderId {
    OrderId::parse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").expect("an order id")
}

/// The second-class ticket of `order()` on `seat`, at 1500 EUR.
fn ticket(train: i64, booking: i64, on: &str, left: u32, when: DateTime<Utc>) -> TrainEvent {
    let mut event = booked(
        train,
        booking,
        Some((SeatClass::Second, 1500, "EUR")),
        left,
        when,
    );
    if let TrainEvent::SeatBooked {
        seat: s, order_id, ..
    } = &mut event
    {
        *s = Some(seat(on));
        *order_id = Some(order());
    }
    event
}

fn released(
    train: i64,
    hold: &str,
    seats: &[&str],
    reason: HoldReleaseReason,
    left: u32,
    when: DateTime<Utc>,
) -> TrainEvent {
    TrainEvent::HoldReleased {
        train_id: TrainId(train),
        hold_id: hold_id(hold),
        seats: seats.iter().map(|s| seat(s)).collect(),
        reason,
        seats_left: left,
        released_at: when,
    }
}

/// Appends the history above, each train's events in stream order.
async fn write(store: &PgEventStore) {
    use SeatClass::{First, Second};
    let train10 = vec![
        registered(10, "Chisinau-Bucuresti", 20, at(5, 8, 0)),
        booked(10, 1001, Some((Second, 1500, "EUR")), 19, at(10, 9, 0)),
        booked(10, 1002, Some((First, 2500, "EUR")), 18, at(10, 10, 0)),
        booked(10, 1003, Some((Second, 1500, "EUR")), 17, at(10, 11, 0)),
        booked(10, 1004, Some((Second, 1000, "EUR")), 16, at(10, 12, 0)),
        held(10, "H1", &["2-5", "2-6"], 1500, 14, at(10, 13, 0)),
        TrainEvent::BookingCancelled {
            order_id: None,
            train_id: TrainId(10),
            booking_id: BookingId(1004),
            reason: BookingCancelReason::Requested,
            seats_left: 15,
            cancelled_at: at(10, 13, 30),
        },
        released(
            10,
            "H1",
            &["2-5", "2-6"],
            HoldReleaseReason::Released,
            17,
            at(10, 13, 45),
        ),
        held(10, "H3", &["2-7"], 1500, 16, at(10, 15, 0)),
        TrainEvent::HoldExpired {
            train_id: TrainId(10),
            hold_id: hold_id("H3"),
            seats: vec![seat("2-7")],
            seats_left: 17,
            expired_at: at(10, 15, 10),
        },
        booked(10, 1005, Some((Second, 1700, "EUR")), 16, at(11, 9, 0)),
        held(10, "H4", &["2-8"], 1500, 15, at(11, 10, 0)),
        held(10, "H5", &["2-9"], 1500, 14, at(11, 11, 0)),
        TrainEvent::OrderTicketsBooked {
            train_id: TrainId(10),
            hold_id: hold_id("H5"),
            order_id: order(),
            ticket_ids: vec![BookingId(1006)],
            seats: vec![seat("2-9")],
            hold_live: true,
            issued_at: at(11, 11, 5),
        },
        ticket(10, 1006, "2-9", 14, at(11, 11, 5)),
    ];
    let train11 = vec![
        registered(11, "Iasi-Cluj", 10, at(5, 9, 0)),
        booked(11, 1101, Some((First, 9000, "RON")), 9, at(10, 10, 0)),
    ];
    let train12 = vec![
        registered(12, "Chisinau-Bucuresti", 5, at(5, 10, 0)),
        booked(12, 1201, None, 4, at(10, 11, 0)),
    ];
    let train13 = vec![
        registered(13, "Iasi-Cluj", 8, at(5, 11, 0)),
        held(13, "H2", &["2-1", "2-2"], 2000, 6, at(10, 12, 0)),
        released(
            13,
            "H2",
            &["2-1", "2-2"],
            HoldReleaseReason::TrainRemoved,
            8,
            at(10, 12, 30),
        ),
        TrainEvent::TrainRemoved {
            train_id: TrainId(13),
            removed_at: at(10, 12, 30),
        },
    ];
    for (train, events) in [(10, train10), (11, train11), (12, train12), (13, train13)] {
        store
            .append(
                &TrainId(train).stream(),
                ExpectedRevision::NoStream,
                events.into_iter().map(encode).collect(),
            )
            .await
            .expect("append");
    }
}

/// The three new report tables: revenue, average price per class, hold outcomes.
async fn tables(world: &World) -> [Vec<Vec<String>>; 3] {
    let september = etl::Period {
        from: day("2024-09-01"),
        to: day("2024-09-30"),
        top: 10,
    };
    let tables = etl::report(&world.warehouse, september)
        .await
        .expect("report");
    [
        table(&tables, "revenue_per_route_day"),
        table(&tables, "average_price_per_class"),
        table(&tables, "hold_outcomes"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_prices_and_hold_outcomes_are_hand_counted_and_a_redelivery_changes_nothing() {
    let world = World::new().await;
    let shutdown = CancellationToken::new();
    let tasks = world.start(&world.amqp, &shutdown);
    write(&world.store).await;
    let messages = world.messages().await;
    wait_loaded(&world.warehouse, messages.len() as i64).await;

    let [revenue, average, outcomes] = tables(&world).await;
    // Train 10 on Sep 10: 1500 + 2500 + 1500 = 5500 EUR from three bookings; 1004's 1000 was
    // cancelled. Train 12's booking has no price and is not counted. RON stays apart.
    assert_eq!(
        revenue,
        rows(&[
            &[
                "Chisinau-Bucuresti",
                "2024-09-10",
                "EUR",
                "3",
                "5500",
                "1000"
            ],
            &["Iasi-Cluj", "2024-09-10", "RON", "1", "9000", "0"],
            &["Chisinau-Bucuresti", "2024-09-11", "EUR", "2", "3200", "0"],
        ])
    );
    // Second class in EUR: (1500 + 1500 + 1700 + 1500) / 4 = 1550; the cancelled 1000 is out.
    assert_eq!(
        average,
        rows(&[
            &["first", "EUR", "1", "2500.00"],
            &["first", "RON", "1", "9000.00"],
            &["second", "EUR", "4", "1550.00"],
        ])
    );
    // Ended holds: H5 bought by its order, H1 and H2 released (H2 by the train's removal), H3
    // expired; H4 is active and not in the denominator: 1/4, 2/4 and 1/4.
    assert_eq!(
        outcomes,
        rows(&[
            &["purchased", "1", "0.2500"],
            &["released", "2", "0.5000"],
            &["expired", "1", "0.2500"],
        ])
    );

    shutdown.cancel();
    for task in tasks {
        task.await.expect("stopped");
    }
    world.cleanup().await;

    // The same batch again, as after a crash before the ack: nothing changes.
    let before = dump(&world.warehouse).await;
    let again = etl::load(&world.warehouse, &messages).await.expect("load");
    assert_eq!((again.fresh, again.repeated), (0, messages.len()));
    assert_eq!(dump(&world.warehouse).await, before);
    assert_eq!(tables(&world).await, [revenue, average, outcomes]);
}

#[tokio::test]
async fn a_hold_and_its_end_make_one_fact_in_either_order() {
    let world = World::new().await;
    write(&world.store).await;
    let messages = world.messages().await;
    etl::load(&world.warehouse, &messages)
        .await
        .expect("in order");
    let (_db, reversed) = load_newest_first(&messages).await;
    assert_eq!(dump(&reversed).await, dump(&world.warehouse).await);

    // One line per row, NULL written as `-`: what each column holds, in the newest-first load.
    let lines = |sql: &'static str| {
        let reversed = reversed.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(&reversed)
                .await
                .expect("query")
        }
    };
    assert_eq!(
        lines(
            "SELECT concat_ws(' ', hold_id, train_id, seat_count, quote_total, currency, outcome,
                              coalesce(end_reason, '-'))
             FROM warehouse.fact_hold ORDER BY hold_id"
        )
        .await,
        [
            "H1 10 2 3000 EUR released released",
            "H2 13 2 4000 EUR released train_removed",
            "H3 10 1 1500 EUR expired expired",
            "H4 10 1 1500 EUR active -",
            "H5 10 1 1500 EUR purchased purchased",
        ]
    );
    assert_eq!(
        lines(
            "SELECT concat_ws(' ', booking_id, coalesce(seat_class, '-'),
                              coalesce(price_amount::text, '-'), coalesce(price_currency, '-'))
             FROM warehouse.fact_booking WHERE booking_id IN (1002, 1201) ORDER BY booking_id"
        )
        .await,
        ["1002 first 2500 EUR", "1201 - - -"]
    );
}

#[tokio::test]
async fn held_seats_count_as_taken_in_the_daily_seats() {
    let world = World::new().await;
    write(&world.store).await;
    etl::load(&world.warehouse, &world.messages().await)
        .await
        .expect("load");
    // Train 10 ends Sep 10 with 17 of 20 seats left (H1's release at 13:45 came after 1004's
    // cancellation left 15), and Sep 11 with 14 (1005 booked, H4 still held, H5's seat bought).
    let seats: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT day::text, capacity, seats_left FROM warehouse.train_seats_daily
         WHERE train_id = 10 AND day >= '2024-09-10' ORDER BY day",
    )
    .fetch_all(&world.warehouse)
    .await
    .expect("seats");
    assert_eq!(
        seats,
        vec![("2024-09-10".into(), 20, 17), ("2024-09-11".into(), 20, 14)]
    );
}
