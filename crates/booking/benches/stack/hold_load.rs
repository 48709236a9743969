//! The hold load of (c2) and (d2): signed-in clients through the gateway, each holding one or
//! two random seats and releasing them again, closed-loop, for a window.
//!
//! A loop in this process rather than wrk: a release must name the hold its own request got
//! and carry its owner's token, and wrk's Lua sees requests per thread, not per connection;
//! here each client also times its holds apart from its releases.

use crate::report::{Percentiles, Row, also, count_unexpected, per_second};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Coaches of a train, all the same size; coach 1 is first class, the rest second.
#[derive(Clone, Copy)]
pub struct Layout {
    pub coaches: usize,
    pub seats_per_coach: usize,
}

impl Layout {
    pub fn seats(self) -> usize {
        self.coaches * self.seats_per_coach
    }

    /// The `POST /trains` fields that lay the train out as this.
    pub fn coaches_json(self) -> serde_json::Value {
        (1..=self.coaches)
            .map(|coach| {
                serde_json::json!({
                    "coach": coach.to_string(),
                    "class": if coach == 1 { "first" } else { "second" },
                    "seat_count": self.seats_per_coach,
                })
            })
            .collect()
    }

    /// The seat numbered `n` from 0 across the whole train, e.g. `"2-14"`.
    pub fn seat(self, n: usize) -> String {
        format!(
            "{}-{}",
            n / self.seats_per_coach + 1,
            n % self.seats_per_coach + 1
        )
    }
}

/// What one run holds on.
pub struct Load<'a> {
    pub gateway: &'a str,
    /// The clients' tokens, shared round-robin.
    pub tokens: &'a [String],
    pub first_train: i64,
    /// Consecutive trains from `first_train`, all laid out as `layout`.
    pub trains: i64,
    pub layout: Layout,
    pub clients: usize,
    pub window: Duration,
}

/// What a run did.
#[derive(Default)]
pub struct Holds {
    pub elapsed: Duration,
    pub held: usize,
    /// 409 `Seats not available`: another client held one of the seats first.
    pub refused: usize,
    pub released: usize,
    /// Every hold request answered 201 or 409: both are a decision on the train's stream.
    pub hold: Percentiles,
    pub release: Percentiles,
    /// Anything else, by what it was (e.g. `"POST 503"`).
    pub others: BTreeMap<String, usize>,
}

impl Holds {
    pub fn row(&self, figure: String, ceiling: f64) -> Row {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        let rate = self.held as f64 / secs;
        let others = also(&self.others);
        Row::new(
            figure,
            format!(
                "{} held, {} refused (409); {} released, release p99 {:.1} ms{others}",
                per_second(rate),
                per_second(self.refused as f64 / secs),
                self.released,
                self.release.p99.as_secs_f64() * 1e3,
            ),
        )
        .latency(self.hold.p50, self.hold.p99)
        .rate(rate, ceiling)
    }
}

/// One client's share of a run.
#[derive(Default)]
struct Tally {
    held: usize,
    refused: usize,
    released: usize,
    hold: Vec<Duration>,
    release: Vec<Duration>,
    others: BTreeMap<String, usize>,
}

/// Where every client sends, shared by all of them.
struct Target {
    http: reqwest::Client,
    gateway: String,
    first_train: i64,
    trains: i64,
    layout: Layout,
    deadline: Instant,
}

pub async fn run(http: &reqwest::Client, load: &Load<'_>) -> anyhow::Result<Holds> {
    anyhow::ensure!(!load.tokens.is_empty(), "holds need signed-in clients");
    let started = Instant::now();
    let target = Arc::new(Target {
        http: http.clone(),
        gateway: load.gateway.to_owned(),
        first_train: load.first_train,
        trains: load.trains,
        layout: load.layout,
        deadline: started + load.window,
    });
    let mut clients = JoinSet::new();
    for n in 0..load.clients {
        let token = load.tokens[n % load.tokens.len()].clone();
        clients.spawn(client(Arc::clone(&target), token, n));
    }
    let mut holds = Holds::default();
    let (mut hold, mut release) = (Vec::new(), Vec::new());
    while let Some(tally) = clients.join_next().await {
        let tally = tally?;
        holds.held += tally.held;
        holds.refused += tally.refused;
        holds.released += tally.released;
        hold.extend(tally.hold);
        release.extend(tally.release);
        for (what, n) in tally.others {
            *holds.others.entry(what).or_default() += n;
        }
    }
    holds.elapsed = started.elapsed();
    holds.hold = Percentiles::of(hold);
    holds.release = Percentiles::of(release);
    Ok(holds)
}

/// Holds and releases until the deadline; the last hold is released after it, so the run
/// leaves its trains as it found them.
async fn client(target: Arc<Target>, token: String, n: usize) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::new(n);
    // A client is one user at one address (the benchmarking range, as in bookings.lua), so
    // the gateway's per-client rate limit sees 500 users, not one.
    let address = format!("198.18.{}.{}", 100 + n / 250, n % 250);
    let base = format!("http://{}/ts", target.gateway);
    while Instant::now() < target.deadline {
        let train = target.first_train + rng.below(target.trains as usize) as i64;
        let first = rng.below(target.layout.seats());
        let mut seats = vec![target.layout.seat(first)];
        if rng.below(2) == 1 {
            let second = (first + 1 + rng.below(target.layout.seats() - 1)) % target.layout.seats();
            seats.push(target.layout.seat(second));
        }
        let sent = Instant::now();
        let answer = target
            .http
            .post(format!("{base}/trains/{train}/holds"))
            .bearer_auth(&token)
            .header("x-forwarded-for", &address)
            .json(&serde_json::json!({ "seats": seats }))
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(_) => {
                tally.failed("POST error").await;
                continue;
            }
        };
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        let took = sent.elapsed();
        let hold_id = match status {
            201 => serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|body| body.get("hold_id")?.as_str().map(str::to_owned)),
            409 if body.contains("Seats not available") => {
                tally.refused += 1;
                tally.hold.push(took);
                continue;
            }
            _ => None,
        };
        let Some(hold_id) = hold_id else {
            tally.failed(&format!("POST {status}")).await;
            continue;
        };
        tally.held += 1;
        tally.hold.push(took);
        let sent = Instant::now();
        let released = target
            .http
            .delete(format!("{base}/holds/{hold_id}"))
            .bearer_auth(&token)
            .header("x-forwarded-for", &address)
            .send()
            .await;
        match released {
            Ok(answer) if answer.status() == reqwest::StatusCode::OK => {
                // The whole answer, as for a hold, before the clock stops.
                let _ = answer.bytes().await;
                tally.released += 1;
                tally.release.push(sent.elapsed());
            }
            Ok(answer) => tally.failed(&format!("DELETE {}", answer.status())).await,
            Err(_) => tally.failed("DELETE error").await,
        }
    }
    tally
}

impl Tally {
    async fn failed(&mut self, what: &str) {
        count_unexpected(&mut self.others, what).await;
    }
}

/// xorshift64*: random enough to scatter seats, without a dependency for it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: usize) -> Self {
        // Never zero, which xorshift would keep forever.
        Self((seed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}
