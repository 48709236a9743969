//! (d3) checkouts on one hot train and (c3) over 100 trains: the whole purchase, hold →
//! order → payment → confirmed, measured right after the holds figures on the same signed-in
//! command API and gateway, with payments on and the simulated provider (its own
//! `payment-simulator` process) answering `tok_success` at once.
//!
//! Each client, closed-loop: `POST /ts/trains/{id}/holds` of 1–2 random seats, `POST
//! /ts/orders` of that hold, `POST /ts/payments` with `tok_success`, then waits for
//! `order_confirmed` on its account's `/ws/me`, as a client would, rather than polling the
//! order. The simulator delivers its webhook straight to the command API, as a provider calls
//! a service's public address; the order process manager does the rest (payment recorded, a
//! train's tickets issued, the order confirmed). A row's latency is from sending the hold to
//! reading `order_confirmed`. Afterwards the log is checked: every confirmation a client saw
//! is one `OrderConfirmed`, and no seat of these trains is booked twice.

use crate::cpu;
use crate::hold_load::{Layout, Rng};
use crate::report::{Percentiles, Row, also, count_unexpected, per_second};
use crate::roles::Role;
use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Longest a paid order may take to be confirmed before the client counts it as lost.
const CONFIRMATION_LIMIT: Duration = Duration::from_secs(30);

/// What the checkout figures run against.
pub struct Target<'a> {
    pub http: &'a reqwest::Client,
    pub gateway: &'a str,
    /// One access token per account; client `n` is a device of account `n % tokens.len()`.
    pub tokens: &'a [String],
    /// The processes whose CPU a checkout costs (the order reactors run in whichever command
    /// API leads them).
    pub roles: &'a [&'a Role],
    pub log: &'a sqlx::PgPool,
}

/// One run: `clients` on `trains` consecutive trains from `first_train`.
pub struct Load {
    pub first_train: i64,
    pub trains: i64,
    pub layout: Layout,
    pub clients: usize,
    pub window: Duration,
}

/// What a run did.
#[derive(Default)]
pub struct Checkouts {
    pub elapsed: Duration,
    pub confirmed: usize,
    /// Holds refused with 409 `Seats not available`: another client was first.
    pub refused: usize,
    /// Hold sent → `order_confirmed` read.
    pub whole: Percentiles,
    pub hold: Percentiles,
    pub order: Percentiles,
    pub pay: Percentiles,
    /// `POST /payments` answered → `order_confirmed` read: the provider, its webhook and the
    /// order process.
    pub settle: Percentiles,
    /// Stack CPU per confirmed checkout.
    pub cpu: Duration,
    /// Where the CPU went, by process.
    pub during: String,
    /// Anything else, by what it was (e.g. `"order 409"`, `"payment_failed"`).
    pub others: BTreeMap<String, usize>,
}

impl Checkouts {
    pub fn row(&self, figure: String, ceiling: f64) -> Row {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        let rate = self.confirmed as f64 / secs;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let others = also(&self.others);
        Row::new(
            figure,
            format!(
                "{} confirmed, {} holds refused (409); p99 hold {:.0}, order {:.0}, pay {:.0}, \
                 paid→confirmed {:.0} ms; stack CPU {:.2} ms per checkout{others}",
                per_second(rate),
                per_second(self.refused as f64 / secs),
                ms(self.hold.p99),
                ms(self.order.p99),
                ms(self.pay.p99),
                ms(self.settle.p99),
                ms(self.cpu),
            ),
        )
        .latency(self.whole.p50, self.whole.p99)
        .rate(rate, ceiling)
    }
}

/// Where the confirmations of one account's orders go: its `/ws/me` socket routes each
/// order's outcome to the client waiting for it.
pub type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<(String, Instant)>>>>;

/// Opens one `/ws/me` per account, each from its own (made-up) address; their routing tables
/// by account.
pub async fn listen(gateway: &str, tokens: &[String]) -> anyhow::Result<Vec<Waiting>> {
    let mut inboxes = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let mut request =
            format!("ws://{gateway}/ws/me?access_token={token}").into_client_request()?;
        let address = format!("198.18.130.{}", n % 250);
        request
            .headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(&address)?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("opening /ws/me")?;
        socket.next().await.context("no welcome on /ws/me")??;
        let waiting = Waiting::default();
        let routes = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let at = Instant::now();
                let Ok(notice) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                let kind = notice["type"].as_str().unwrap_or_default();
                // What ends a checkout; `payment_pending` only says it is under way.
                if !matches!(
                    kind,
                    "order_confirmed" | "payment_failed" | "order_refunded" | "order_expired"
                ) {
                    continue;
                }
                let order = notice["order_id"].as_str().unwrap_or_default();
                let waiter = routes.lock().expect("routes").remove(order);
                if let Some(waiter) = waiter {
                    let _ = waiter.send((kind.to_owned(), at));
                }
            }
        });
        inboxes.push(waiting);
    }
    Ok(inboxes)
}

/// Runs `load`, then checks the log against what the clients saw.
pub async fn run(
    target: &Target<'_>,
    inboxes: &[Waiting],
    load: &Load,
) -> anyhow::Result<Checkouts> {
    ensure!(
        !target.tokens.is_empty() && inboxes.len() == target.tokens.len(),
        "checkouts need signed-in clients, each account listening"
    );
    let confirmed_before = confirmed_in_log(target.log).await?;
    let before = cpu::snapshot(target.roles, target.log).await?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        http: target.http.clone(),
        base: format!("http://{}/ts", target.gateway),
        first_train: load.first_train,
        trains: load.trains,
        layout: load.layout,
        deadline: started + load.window,
    });
    let mut clients = JoinSet::new();
    for n in 0..load.clients {
        let account = n % target.tokens.len();
        clients.spawn(client(
            Arc::clone(&shared),
            target.tokens[account].clone(),
            Arc::clone(&inboxes[account]),
            n,
        ));
    }
    let mut checkouts = Checkouts::default();
    let mut samples: [Vec<Duration>; 5] = Default::default();
    while let Some(tally) = clients.join_next().await {
        let tally = tally?;
        checkouts.confirmed += tally.confirmed;
        checkouts.refused += tally.refused;
        for (all, mine) in samples.iter_mut().zip(tally.samples) {
            all.extend(mine);
        }
        for (what, n) in tally.others {
            *checkouts.others.entry(what).or_default() += n;
        }
    }
    checkouts.elapsed = started.elapsed();
    let after = cpu::snapshot(target.roles, target.log).await?;
    checkouts.cpu = cpu::stack_per_unit(&before, &after, checkouts.confirmed as f64);
    let [whole, hold, order, pay, settle] = samples;
    checkouts.whole = Percentiles::of(whole);
    checkouts.hold = Percentiles::of(hold);
    checkouts.order = Percentiles::of(order);
    checkouts.pay = Percentiles::of(pay);
    checkouts.settle = Percentiles::of(settle);
    checkouts.during = cpu::breakdown(&before, &after, checkouts.confirmed as f64, "checkout");

    let in_log = confirmed_in_log(target.log).await? - confirmed_before;
    ensure!(
        in_log == checkouts.confirmed as i64,
        "clients saw {} orders confirmed, the log has {in_log} OrderConfirmed",
        checkouts.confirmed
    );
    let streams: Vec<String> = (load.first_train..load.first_train + load.trains)
        .map(|train| domain::TrainId(train).stream())
        .collect();
    let (booked, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (stream_id, data->>'seat')) FROM event_store.events
         WHERE stream_id = ANY($1) AND event_type = 'SeatBooked'",
    )
    .bind(&streams)
    .fetch_one(target.log)
    .await?;
    if booked != distinct {
        bail!("OVERSOLD: {booked} tickets booked for {distinct} seats");
    }
    Ok(checkouts)
}

async fn confirmed_in_log(log: &sqlx::PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM event_store.events WHERE event_type = 'OrderConfirmed'",
    )
    .fetch_one(log)
    .await?)
}

/// What every client sends to, shared by all of them.
struct Shared {
    http: reqwest::Client,
    base: String,
    first_train: i64,
    trains: i64,
    layout: Layout,
    deadline: Instant,
}

/// One client's share of a run; samples as in [`Checkouts`]: whole, hold, order, pay, settle.
#[derive(Default)]
struct Tally {
    confirmed: usize,
    refused: usize,
    samples: [Vec<Duration>; 5],
    others: BTreeMap<String, usize>,
}

impl Tally {
    async fn failed(&mut self, what: impl Into<String>) {
        count_unexpected(&mut self.others, what).await;
    }
}

/// An answer's status and body, or what went wrong on the way.
async fn send(request: reqwest::RequestBuilder) -> Result<(u16, serde_json::Value), String> {
    let answer = request.send().await.map_err(|_| "error".to_owned())?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(|_| "error".to_owned())?;
    Ok((status, serde_json::from_slice(&body).unwrap_or_default()))
}

/// Checks out until the deadline; the checkout under way then is finished and counted.
async fn client(shared: Arc<Shared>, token: String, inbox: Waiting, n: usize) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::new(n + 1_000_000);
    // Addresses apart from the hold load's, one per client.
    let address = format!("198.18.{}.{}", 140 + n / 250, n % 250);
    let post = |path: String, body: serde_json::Value| {
        shared
            .http
            .post(format!("{}{path}", shared.base))
            .bearer_auth(&token)
            .header("x-forwarded-for", &address)
            .json(&body)
    };
    let seats = shared.layout.seats();
    while Instant::now() < shared.deadline {
        let train = shared.first_train + rng.below(shared.trains as usize) as i64;
        let first = rng.below(seats);
        let mut chosen = vec![shared.layout.seat(first)];
        if rng.below(2) == 1 {
            chosen.push(
                shared
                    .layout
                    .seat((first + 1 + rng.below(seats - 1)) % seats),
            );
        }
        let started = Instant::now();
        let held = send(post(
            format!("/trains/{train}/holds"),
            serde_json::json!({ "seats": chosen }),
        ))
        .await;
        let hold_id = match &held {
            Ok((201, body)) => body["hold_id"].as_str().map(str::to_owned),
            Ok((409, body)) if body["detail"] == "Seats not available" => {
                tally.refused += 1;
                continue;
            }
            Ok(_) | Err(_) => None,
        };
        let Some(hold_id) = hold_id else {
            tally.failed(format!("hold {}", status_of(&held))).await;
            continue;
        };
        let held_at = Instant::now();
        let placed = send(post(
            "/orders".into(),
            serde_json::json!({ "holds": [hold_id] }),
        ))
        .await;
        let order_id = match &placed {
            Ok((201, body)) => body["order_id"].as_str().map(str::to_owned),
            _ => None,
        };
        let Some(order_id) = order_id else {
            tally.failed(format!("order {}", status_of(&placed))).await;
            continue;
        };
        let placed_at = Instant::now();
        let (told, outcome) = oneshot::channel();
        inbox.lock().expect("routes").insert(order_id.clone(), told);
        let paid = send(post(
            "/payments".into(),
            serde_json::json!({ "order_id": order_id, "method": "card", "token": "tok_success" }),
        ))
        .await;
        if !matches!(paid, Ok((202, _))) {
            inbox.lock().expect("routes").remove(&order_id);
            tally.failed(format!("pay {}", status_of(&paid))).await;
            continue;
        }
        let paid_at = Instant::now();
        match tokio::time::timeout(CONFIRMATION_LIMIT, outcome).await {
            Ok(Ok((kind, at))) if kind == "order_confirmed" => {
                tally.confirmed += 1;
                for (samples, took) in tally.samples.iter_mut().zip([
                    at - started,
                    held_at - started,
                    placed_at - held_at,
                    paid_at - placed_at,
                    at - paid_at,
                ]) {
                    samples.push(took);
                }
            }
            Ok(Ok((kind, _))) => tally.failed(kind).await,
            Ok(Err(_)) => tally.failed("socket closed").await,
            Err(_) => {
                inbox.lock().expect("routes").remove(&order_id);
                tally.failed("not confirmed in 30 s").await;
            }
        }
    }
    tally
}

/// An unexpected answer as the others column counts it: its status, and for a 409 which
/// conflict it was (e.g. `409 Too many concurrent changes, please retry`).
fn status_of(answer: &Result<(u16, serde_json::Value), String>) -> String {
    match answer {
        Ok((409, body)) => format!("409 {}", body["detail"].as_str().unwrap_or_default()),
        Ok((status, _)) => status.to_string(),
        Err(what) => what.clone(),
    }
}
