//! (m) The seat map read: `GET /ts/trains/{id}/seats` through the gateway, anonymous (the map
//! is public), by a few closed-loop readers at once, on a train of realistic size with some of
//! its seats held.

use crate::report::{Percentiles, Row, per_second};
use anyhow::{Context, ensure};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The train whose map is read.
pub struct Map {
    pub train: i64,
    pub seats: usize,
    /// Seats its map showed held before the reads began.
    pub held: usize,
}

pub struct Reads {
    pub map: Map,
    pub readers: usize,
    pub rate: f64,
    pub latency: Percentiles,
    pub failed: usize,
}

impl Reads {
    pub fn row(&self) -> Row {
        Row::new(
            format!(
                "(m) seat map read, {} seats ({} held), {} readers",
                self.map.seats, self.map.held, self.readers
            ),
            format!(
                "{} reads, {} failed, max {:.1} ms",
                per_second(self.rate),
                self.failed,
                self.latency.max.as_secs_f64() * 1e3
            ),
        )
        .latency(self.latency.p50, self.latency.p99)
    }
}

/// Seats the map of `train` shows as held, read once before timing to check the setup.
pub async fn held_seats(
    http: &reqwest::Client,
    gateway: &str,
    train: i64,
) -> anyhow::Result<usize> {
    let map: serde_json::Value = http
        .get(format!("http://{gateway}/ts/trains/{train}/seats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let coaches = map["coaches"].as_array().context("a seat map")?;
    Ok(coaches
        .iter()
        .filter_map(|coach| coach["seats"].as_array())
        .flatten()
        .filter(|seat| seat["state"] == "held")
        .count())
}

pub async fn measure(
    http: &reqwest::Client,
    gateway: &str,
    map: Map,
    readers: usize,
    window: Duration,
) -> anyhow::Result<Reads> {
    let started = Instant::now();
    let deadline = started + window;
    let url = format!("http://{gateway}/ts/trains/{}/seats", map.train);
    let mut running = JoinSet::new();
    for reader in 0..readers {
        let (http, url) = (http.clone(), url.clone());
        running.spawn(async move {
            let (mut took, mut failed) = (Vec::new(), 0);
            while Instant::now() < deadline {
                // Anyone may look at a map: a new address each time, so the gateway's
                // per-client rate limit does not cap a handful of readers.
                let address = format!("198.18.{}.{}", 150 + reader, took.len() % 250);
                let sent = Instant::now();
                let read = http
                    .get(&url)
                    .header("x-forwarded-for", address)
                    .send()
                    .await;
                match read {
                    Ok(answer) if answer.status() == reqwest::StatusCode::OK => {
                        if answer.bytes().await.is_ok() {
                            took.push(sent.elapsed());
                        } else {
                            failed += 1;
                        }
                    }
                    _ => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (took, failed)
        });
    }
    let (mut took, mut failed) = (Vec::new(), 0);
    while let Some(reader) = running.join_next().await {
        let (times, misses) = reader?;
        took.extend(times);
        failed += misses;
    }
    let rate = took.len() as f64 / started.elapsed().as_secs_f64().max(1e-3);
    ensure!(!took.is_empty(), "no seat map read succeeded");
    Ok(Reads {
        map,
        readers,
        rate,
        latency: Percentiles::of(took),
        failed,
    })
}
