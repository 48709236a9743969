//! (e) Read your writes, open-loop: bookings arrive at a fixed rate whether or not earlier ones
//! have been answered (no load tool here chains a command to a query at a fixed rate, and
//! wrk2 is not packaged), each booking is followed by a `GET /ts/bookings/{id}`, and its time
//! runs from when it was due to when the query shows it. Measuring from the due time, not the
//! send time, keeps a stalled stack from hiding its stall (no coordinated omission).

use crate::report::{Percentiles, Row, per_second};
use anyhow::Context;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub struct Ryw {
    pub offered: usize,
    pub rate: f64,
    /// Due time to the query showing the booking.
    pub visible: Percentiles,
    /// Due time to the command's answer, and from there to the query's.
    pub command: Percentiles,
    pub query: Percentiles,
    /// Bookings answered 200 whose query did not find them: read-your-writes violations.
    pub not_visible: usize,
    /// Commands not answered 200, or requests that failed.
    pub failed: usize,
}

impl Ryw {
    /// The row of a run at `when` (a steady rate, or half of (c)); `goal` holds it to
    /// p99 <= 25 ms, otherwise it is reported only.
    pub fn row(&self, when: &str, goal: bool) -> Row {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let row = Row::new(
            format!("(e) read your writes at {when}: command -> query shows it"),
            format!(
                "{} of {} at {}, {} not visible, {} failed; command p99 {:.1} ms, query p99 {:.1} ms",
                self.visible.count,
                self.offered,
                per_second(self.rate),
                self.not_visible,
                self.failed,
                ms(self.command.p99),
                ms(self.query.p99),
            ),
        )
        .latency(self.visible.p50, self.visible.p99);
        if goal {
            row.target("p99 <= 25 ms", self.met())
        } else {
            row
        }
    }

    /// p99 within 25 ms, every booking answered and visible.
    pub fn met(&self) -> bool {
        self.visible.p99 <= Duration::from_millis(25) && self.not_visible == 0 && self.failed == 0
    }
}

struct Sample {
    command: Duration,
    visible: Duration,
}

enum Outcome {
    Seen(Sample),
    NotVisible,
    Failed,
}

/// Where bookings go: the gateway and a range of trains.
pub struct Target<'a> {
    pub gateway: &'a str,
    pub first_train: i64,
    pub trains: i64,
    pub tag: &'a str,
}

pub async fn measure(
    http: &reqwest::Client,
    target: &Target<'_>,
    rate: f64,
    window: Duration,
) -> anyhow::Result<Ryw> {
    let rate = rate.max(1.0);
    let offered = (rate * window.as_secs_f64()).ceil() as usize;
    let every = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut running = JoinSet::new();
    for n in 0..offered {
        let due = started + every.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        let train = target.first_train + (n as i64) % target.trains;
        let body = serde_json::json!({
            "train_id": train,
            "user_credentials": format!("{}-{n}", target.tag),
        });
        let client = format!("198.18.200.{}", n % 250);
        running.spawn(book_then_read(
            http.clone(),
            target.gateway.to_owned(),
            body,
            client,
            due,
        ));
    }
    let (mut command, mut visible, mut query) = (Vec::new(), Vec::new(), Vec::new());
    let (mut not_visible, mut failed) = (0, 0);
    while let Some(outcome) = running.join_next().await {
        match outcome.context("a booking task")? {
            Outcome::Seen(sample) => {
                command.push(sample.command);
                visible.push(sample.visible);
                query.push(sample.visible.saturating_sub(sample.command));
            }
            Outcome::NotVisible => not_visible += 1,
            Outcome::Failed => failed += 1,
        }
    }
    Ok(Ryw {
        offered,
        rate,
        visible: Percentiles::of(visible),
        command: Percentiles::of(command),
        query: Percentiles::of(query),
        not_visible,
        failed,
    })
}

async fn book_then_read(
    http: reqwest::Client,
    gateway: String,
    body: serde_json::Value,
    client: String,
    due: Instant,
) -> Outcome {
    let booked = http
        .post(format!("http://{gateway}/ts/bookings"))
        .header("x-forwarded-for", &client)
        .json(&body)
        .send()
        .await;
    let id: i64 = match booked {
        Ok(response) if response.status() == reqwest::StatusCode::OK => {
            match response.json().await {
                Ok(id) => id,
                Err(_) => return Outcome::Failed,
            }
        }
        _ => return Outcome::Failed,
    };
    let command = due.elapsed();
    let read = http
        .get(format!("http://{gateway}/ts/bookings/{id}"))
        .header("x-forwarded-for", &client)
        .send()
        .await;
    match read {
        Ok(response) if response.status() == reqwest::StatusCode::OK => Outcome::Seen(Sample {
            command,
            visible: due.elapsed(),
        }),
        Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => Outcome::NotVisible,
        _ => Outcome::Failed,
    }
}
