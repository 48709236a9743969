//! The scenario with hand-computed answers, fed live through the projector's feed, RabbitMQ
//! and the etl; every analyst view (through the report) must give exactly those answers.

use crate::support::{World, day, dump, scenario, table, wait_loaded};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_gives_the_hand_computed_answers() {
    let world = World::new().await;
    let shutdown = CancellationToken::new();
    let tasks = world.start(&world.amqp, &shutdown);
    scenario::write(&world.store).await;
    wait_loaded(&world.warehouse, scenario::EVENTS).await;

    let whole = etl::Period {
        from: day("2024-01-01"),
        to: day("2024-12-31"),
        top: 10,
    };
    let tables = etl::report(&world.warehouse, whole).await.expect("report");
    assert_eq!(
        table(&tables, "bookings_per_route_day"),
        scenario::bookings_per_route_day()
    );
    assert_eq!(
        table(&tables, "load_factor_per_train"),
        scenario::load_factor_per_train()
    );
    assert_eq!(
        table(&tables, "cancellation_rate_per_route"),
        scenario::cancellation_rate_per_route()
    );
    assert_eq!(
        table(&tables, "lead_time_distribution"),
        scenario::lead_time_distribution()
    );

    let first_two_days = etl::Period {
        from: day("2024-09-01"),
        to: day("2024-09-02"),
        top: 10,
    };
    let tables = etl::report(&world.warehouse, first_two_days)
        .await
        .expect("report");
    let top = tables
        .iter()
        .find(|t| t.name == "top_routes")
        .expect("top routes");
    assert_eq!(top.rows, scenario::top_routes_first_two_days());
    assert_eq!(
        top.columns,
        ["rank", "route", "bookings", "cancellations", "net_bookings"]
    );
    assert!(top.to_csv().starts_with("rank,route,bookings"));

    shutdown.cancel();
    for task in tasks {
        task.await.expect("stopped");
    }
    world.cleanup().await;
    assert!(!dump(&world.warehouse).await.is_empty());
}

#[tokio::test]
async fn a_train_keeps_its_history_and_its_daily_seats() {
    let world = World::new().await;
    scenario::write(&world.store).await;
    etl::load(&world.warehouse, &world.messages().await)
        .await
        .expect("load");

    let versions: Vec<(String, String, i32, Option<String>, bool)> = sqlx::query_as(
        "SELECT r.route, t.departure_time::text, t.capacity,
                (t.valid_to AT TIME ZONE 'UTC')::text, t.is_current
         FROM warehouse.dim_train t JOIN warehouse.dim_route r USING (route_key)
         WHERE t.train_id = 2 ORDER BY t.from_commit, t.from_prepare",
    )
    .fetch_all(&world.warehouse)
    .await
    .expect("versions");
    assert_eq!(
        versions,
        vec![
            (
                "Iasi-Cluj".into(),
                "2024-09-03 10:00:00".into(),
                4,
                Some("2024-09-02 10:00:00".into()),
                false
            ),
            (
                "Iasi-Cluj-Oradea".into(),
                "2024-09-04 10:00:00".into(),
                6,
                None,
                true
            ),
        ]
    );

    // Train 2's seats at the end of each day: 3 of 4 left on Sep 1; 4 of 6 after the change
    // on Sep 2; 3 of 6 on Sep 3.
    let seats: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT day::text, capacity, seats_left FROM warehouse.train_seats_daily
         WHERE train_id = 2 ORDER BY day",
    )
    .fetch_all(&world.warehouse)
    .await
    .expect("seats");
    assert_eq!(
        seats,
        vec![
            ("2024-09-01".into(), 4, 3),
            ("2024-09-02".into(), 6, 4),
            ("2024-09-03".into(), 6, 3),
        ]
    );
    // Train 1 changed on Sep 1, 2, 24 and 26: the snapshot carries over the 26 days.
    let (days, on_the_tenth): (i64, Option<i32>) = sqlx::query_as(
        "SELECT count(*), max(seats_left) FILTER (WHERE day = '2024-09-10')
         FROM warehouse.train_seats_daily WHERE train_id = 1",
    )
    .fetch_one(&world.warehouse)
    .await
    .expect("train 1 seats");
    assert_eq!((days, on_the_tenth), (26, Some(9)));

    // Booking 203 was made on the new version: its lead time uses the new departure.
    let (status, lead): (String, i32) = sqlx::query_as(
        "SELECT status, lead_time_minutes FROM warehouse.fact_booking WHERE booking_id = 203",
    )
    .fetch_one(&world.warehouse)
    .await
    .expect("booking 203");
    assert_eq!((status.as_str(), lead), ("active", 25 * 60));
    let statuses: Vec<(i64, String)> = sqlx::query_as(
        "SELECT booking_id, status FROM warehouse.fact_booking
         WHERE booking_id IN (102, 301) ORDER BY booking_id",
    )
    .fetch_all(&world.warehouse)
    .await
    .expect("statuses");
    assert_eq!(
        statuses,
        vec![
            (102, "cancelled".into()),
            (301, "cancelled_by_removal".into())
        ]
    );
}
