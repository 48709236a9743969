//! (c) booking throughput over many trains and (d) the flash sale on one, both driven by wrk
//! through the gateway, and the trains they book on.

use crate::report::{Row, per_second};
use crate::wrk::{self, Load};
use anyhow::{bail, ensure};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Trains the steady load (c) and read-your-writes (e) spread over.
pub const TRAINS: i64 = 100;
/// Seats of every train: the most a train may have.
pub const SEATS: i64 = 5000;
const SALE_CLIENTS: usize = 500;
/// Longest a sale may take before it counts as not sold out.
const SALE_LIMIT: Duration = Duration::from_secs(120);
/// Wait after the read model shows the train sold out, before ending the sale.
const SALE_GRACE: Duration = Duration::from_secs(2);

/// A registered train with `SEATS` seats.
pub async fn new_train(http: &reqwest::Client, api: &str) -> anyhow::Result<i64> {
    let response = http
        .post(format!("http://{api}/trains"))
        .json(&serde_json::json!({
            "route": "Chisinau-Bucuresti",
            "departure_time": "2027-03-01T06:30",
            "arrival_time": "2027-03-01T15:40",
            "available_seats": SEATS,
        }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("creating a train: {}", response.status());
    }
    Ok(response.json().await?)
}

/// `TRAINS` new trains; the first id (they are consecutive).
pub async fn new_trains(http: &reqwest::Client, api: &str) -> anyhow::Result<i64> {
    let first = new_train(http, api).await?;
    for n in 1..TRAINS {
        let id = new_train(http, api).await?;
        ensure!(id == first + n, "train ids are not consecutive");
    }
    Ok(first)
}

/// (c): returns the row and the rate of successful bookings.
pub fn throughput(
    gateway: &str,
    first_train: i64,
    connections: usize,
    window: Duration,
    ceiling: f64,
) -> anyhow::Result<(Row, f64)> {
    let steady = wrk::run(&Load {
        gateway,
        first_train,
        trains: TRAINS,
        connections,
        duration: window,
        tag: "steady",
        sale: false,
    })?;
    let rate = steady.count(200) as f64 / steady.duration.as_secs_f64();
    let row = Row::new(
        format!("(c) HTTP bookings via gateway, {connections} clients"),
        format!("{} ok{}", per_second(rate), steady.others()),
    )
    .latency(steady.p50, steady.p99)
    .rate(rate, ceiling)
    .target(">= 40% of (a)", rate >= 0.4 * ceiling);
    Ok((row, rate))
}

/// (d): one train, `SALE_CLIENTS` clients at once until it is sold out. The rate is seats sold
/// per second from the start of the sale to the last booking's commit; every 200 is checked
/// against the seats and the log. Fails the run if a seat was oversold.
pub async fn flash_sale(
    http: &reqwest::Client,
    api: &str,
    gateway: &str,
    log: &sqlx::PgPool,
    ceiling: f64,
    booking_rate: f64,
) -> anyhow::Result<Row> {
    let train = new_train(http, api).await?;
    let started = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let wrk = wrk::start(&Load {
        gateway,
        first_train: train,
        trains: 1,
        connections: SALE_CLIENTS,
        duration: SALE_LIMIT,
        tag: "sale",
        sale: true,
    })?;
    // Sold out once the read model shows no seats left; the last answers (a booking's waits
    // for the read models) are in well within the grace after that.
    let deadline = Instant::now() + SALE_LIMIT;
    while Instant::now() < deadline {
        let left: Option<i32> =
            sqlx::query_scalar("SELECT available_seats FROM read_models.trains WHERE id = $1")
                .bind(train)
                .fetch_optional(log)
                .await?;
        if left == Some(0) {
            tokio::time::sleep(SALE_GRACE).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wrk::interrupt(&wrk)?;
    let sale = tokio::task::block_in_place(|| wrk::finish(wrk))?;
    // recorded_at is the append's transaction time, from the same machine's clock.
    let (in_log, last_booked): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM max(recorded_at))::float8 FROM event_store.events
         WHERE stream_id = $1 AND event_type = 'SeatBooked'",
    )
    .bind(domain::TrainId(train).stream())
    .fetch_one(log)
    .await?;
    let answered = i64::try_from(sale.count(200))?;
    let oversold = (answered.max(in_log) - SEATS).max(0);
    if oversold > 0 {
        bail!(
            "OVERSOLD: {answered} bookings answered 200 and {in_log} in the log for {SEATS} seats"
        );
    }
    let rate = in_log as f64 / (last_booked.unwrap_or(started) - started).max(1e-3);
    let sold_out_exactly = answered == in_log && in_log == SEATS;
    Ok(Row::new(
        format!("(d) flash sale, 1 train, {SALE_CLIENTS} clients"),
        format!(
            "{} ok; 200s {answered}, in log {in_log}, seats {SEATS}, oversold {oversold}{}",
            per_second(rate),
            sale.others()
        ),
    )
    .latency(sale.p50, sale.p99)
    .rate(rate, ceiling)
    .target(
        ">= 50% of (c), 0 oversold",
        sold_out_exactly && rate >= 0.5 * booking_rate,
    ))
}
