//! The workload of the order crash test: travellers who hold seats, place orders on one or two
//! trains, pay for them with each test token, and cancel some after confirmation, round after
//! round while the command API is killed under them; and an admin who removes a train that
//! has an order paid for on it.
//!
//! A client retries a request that got no answer (the process died) or a 502/503/504, as a
//! real client would. No request carries an `Idempotency-Key`: a claimed key outlives a
//! SIGKILLed request for a minute (its record stays "in flight", answered 409, for
//! `IN_FLIGHT_SECS`), and the order and payment handlers take no cause from it, so after that
//! a retry runs as a new request anyway. Retrying without one is safe here: a placement
//! repeated after its first run landed finds its holds taken by the first order and is refused
//! (or, if it ran before the trains kept the holds, places a second order that the trains then
//! refuse, so it ends cancelled); the client then finds its order by its seats. A repeated
//! payment is refused while the first is pending or paid, a repeated cancellation finds
//! nothing left to cancel, and a repeated hold is one more hold that expires unused. Each
//! order the log holds counts once in the oracle, whichever client run placed it.

use crate::crash::random_below;
use crate::stack::PATIENCE;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const ADMIN_EMAIL: &str = "root@example.org";
pub const PASSWORD: &str = "correct horse";
/// Longest a traveller waits for an order or a payment to move on before it gives the round
/// up, and leaves the verdict to the oracle.
const WAIT: Duration = Duration::from_secs(20);
/// Most rounds one traveller plays: a bound, as rounds go on until the faults are over.
const MAX_ROUNDS: usize = 40;
/// Regular trains, each with this many second-class seats.
const TRAINS: usize = 4;
const SECOND_CLASS_SEATS: u32 = 150;

/// What a traveller does each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plan {
    /// One train, paid with this token.
    Pay(&'static str),
    /// One seat on each of two trains, in one order.
    TwoTrains,
    /// Paid with a delay that lands after `pay_by`: expired, then taken again or refunded.
    Late,
    /// Declined, then paid again.
    DeclineThenPay,
    /// Confirmed, then cancelled; its refund keeps failing.
    RefundFails,
    /// Two trains confirmed, then the whole order cancelled: refunded.
    CancelOrder,
    /// Two seats confirmed, then one ticket cancelled: partially refunded.
    CancelTicket,
    /// Cancelled before it was paid.
    CancelUnpaid,
    /// First an order confirmed on the doomed train, then one paid for on it and another
    /// train, and the doomed train removed as soon as the payment is asked for; then as
    /// `Pay("tok_success")`.
    OnDoomedTrain,
}

const PLANS: [Plan; 11] = [
    Plan::Pay("tok_success"),
    Plan::Pay("tok_delayed_400"),
    Plan::Pay("tok_duplicate"),
    Plan::TwoTrains,
    Plan::Late,
    Plan::DeclineThenPay,
    Plan::RefundFails,
    Plan::CancelOrder,
    Plan::CancelTicket,
    Plan::CancelUnpaid,
    Plan::OnDoomedTrain,
];

/// What the workload did.
#[derive(Debug, Default)]
pub struct Played {
    pub rounds: BTreeMap<String, usize>,
    /// Orders whose placement answered 201.
    pub placed: usize,
    /// Orders a client found by their seats after its placement's answer was lost.
    pub found_after_retry: usize,
    /// Rounds given up: a hold or a placement could not be had, or an order did not move on
    /// within [`WAIT`].
    pub abandoned: usize,
    /// Requests sent again after no answer or a 502/503/504.
    pub retries: u64,
}

/// A signed-in caller of the command API.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    retries: Arc<AtomicU64>,
}

struct Reply {
    status: u16,
    body: Value,
    /// Whether the request was sent more than once.
    retried: bool,
}

impl Client {
    /// Sends the request until it gets an answer a client acts on.
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let deadline = Instant::now() + PATIENCE;
        let mut retried = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Ok(response) = request.send().await {
                let status = response.status().as_u16();
                // A body cut off by the kill is no answer either.
                if let Ok(text) = response.text().await {
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if !again(status, &body) {
                        return Reply {
                            status,
                            body,
                            retried,
                        };
                    }
                }
            }
            retried = true;
            self.retries.fetch_add(1, Ordering::Relaxed);
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer in time"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        let reply = self.send(Method::GET, path, None).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.body
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&body)).await
    }
}

/// Whether a client sends the request again: the service was down, or too busy to decide, or
/// its read models do not show yet what it answered a moment ago (a command waits for them
/// only so long).
fn again(status: u16, body: &Value) -> bool {
    matches!(status, 502..=504)
        || (status == 409 && body["detail"] == "Too many concurrent changes, please retry")
        || (status == 404
            && matches!(
                body["detail"].as_str(),
                Some("Hold not found" | "Order not found")
            ))
}

/// Signs in as `email`; the access token. The first admin is recorded by a reaction the
/// service waits for only so long at start-up: until it is, its login is refused.
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> String {
    let client = anonymous(http, base);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = json!({"email": email, "password": PASSWORD});
        let reply = client.post("/api/users/login", body).await;
        if reply.status == 200 {
            return reply.body["token"].as_str().expect("a token").to_owned();
        }
        assert!(
            reply.status == 401 && Instant::now() < deadline,
            "signing in as {email}: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn anonymous(http: &reqwest::Client, base: &str) -> Client {
    Client {
        http: http.clone(),
        base: base.to_owned(),
        token: None,
        retries: Arc::default(),
    }
}

/// A train like the command API tests' `priced_train`, larger, leaving in 2099 (so every
/// cancellation is refunded in full).
fn train_body(n: usize) -> Value {
    json!({
        "route": format!("Chisinau-Iasi-{n}"),
        "departure_time": "2099-09-25T06:30",
        "arrival_time": "2099-09-25T18:45",
        "available_seats": 10 + SECOND_CLASS_SEATS,
        "coaches": [
            {"coach": "1", "class": "first", "seat_count": 10},
            {"coach": "2", "class": "second", "seat_count": SECOND_CLASS_SEATS}
        ],
        "prices": {"first": 2500, "second": 1500},
        "currency": "EUR"
    })
}

/// The admin, the trains and the travellers, set up while the service runs undisturbed.
pub struct World {
    admin: Client,
    trains: Vec<i64>,
    doomed: i64,
    travellers: Vec<(Plan, Client)>,
    retries: Arc<AtomicU64>,
    /// `PAYMENT_WINDOW_SECS`, in milliseconds.
    window_ms: u64,
}

impl World {
    pub async fn set_up(base: &str, window_secs: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let retries = Arc::new(AtomicU64::new(0));
        let signed = |token: String| Client {
            http: http.clone(),
            base: base.to_owned(),
            token: Some(token),
            retries: Arc::clone(&retries),
        };
        let admin = signed(sign_in(&http, base, ADMIN_EMAIL).await);
        let mut trains = Vec::new();
        for n in 0..=TRAINS {
            let reply = admin.post("/trains", train_body(n)).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            trains.push(reply.body.as_i64().expect("a train id"));
        }
        let doomed = trains.pop().expect("the doomed train");
        let mut travellers = Vec::new();
        for (n, plan) in PLANS.into_iter().enumerate() {
            let email = format!("traveller-{n}@example.org");
            let body =
                json!({"username": format!("traveller-{n}"), "email": email, "password": PASSWORD});
            let reply = anonymous(&http, base)
                .post("/api/users/register", body)
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            travellers.push((plan, signed(sign_in(&http, base, &email).await)));
        }
        Self {
            admin,
            trains,
            doomed,
            travellers,
            retries,
            window_ms: window_secs * 1000,
        }
    }

    /// Plays rounds until `over` (or [`MAX_ROUNDS`]), every traveller at once.
    pub async fn play(self, over: CancellationToken) -> Played {
        let world = Arc::new(self);
        let tasks: Vec<_> = (0..world.travellers.len())
            .map(|n| {
                let (world, over) = (Arc::clone(&world), over.clone());
                tokio::spawn(async move { world.traveller(n, over).await })
            })
            .collect();
        let mut played = Played::default();
        for task in tasks {
            let (plan, mine) = task.await.expect("a traveller finished");
            *played.rounds.entry(format!("{plan:?}")).or_default() += mine.rounds;
            played.placed += mine.placed;
            played.found_after_retry += mine.found_after_retry;
            played.abandoned += mine.abandoned;
        }
        played.retries = world.retries.load(Ordering::Relaxed);
        played
    }

    async fn traveller(&self, n: usize, over: CancellationToken) -> (Plan, Tally) {
        let (plan, client) = &self.travellers[n];
        let mut me = Traveller {
            world: self,
            client,
            tally: Tally::default(),
        };
        for round in 0..MAX_ROUNDS {
            if over.is_cancelled() {
                break;
            }
            let plan = match (*plan, round) {
                (Plan::OnDoomedTrain, 0) => Plan::OnDoomedTrain,
                (Plan::OnDoomedTrain, _) => Plan::Pay("tok_success"),
                (plan, _) => plan,
            };
            if me.round(plan).await.is_none() {
                me.tally.abandoned += 1;
            }
            me.tally.rounds += 1;
            // A pause between rounds, so that the travellers drift apart and their orders'
            // steps spread over the kills.
            tokio::time::sleep(Duration::from_millis(random_below(400))).await;
        }
        (*plan, me.tally)
    }
}

/// One traveller's count.
#[derive(Default)]
struct Tally {
    rounds: usize,
    placed: usize,
    found_after_retry: usize,
    abandoned: usize,
}

/// An order as its owner knows it.
struct Placed {
    id: String,
    tickets: Vec<i64>,
}

struct Traveller<'a> {
    world: &'a World,
    client: &'a Client,
    tally: Tally,
}

/// Statuses after which an order's owner has nothing to wait for (a late payment may still
/// move an expired order on; the oracle waits for that).
const SETTLED: [&str; 5] = [
    "confirmed",
    "refunded",
    "partially_refunded",
    "cancelled",
    "expired",
];

impl Traveller<'_> {
    /// One round of `plan`; `None` if it had to be given up.
    async fn round(&mut self, plan: Plan) -> Option<()> {
        let train = self.any_train();
        match plan {
            Plan::Pay(token) => {
                let order = self.order(&[(train, 1)]).await?;
                self.pay(&order, token).await;
                self.until(&order, &SETTLED).await?;
            }
            Plan::TwoTrains | Plan::CancelOrder => {
                let other = self.other_train(train);
                let order = self.order(&[(train, 1), (other, 1)]).await?;
                self.pay(&order, "tok_success").await;
                let status = self.until(&order, &SETTLED).await?;
                if plan == Plan::CancelOrder && status == "confirmed" {
                    self.cancel(&order).await;
                    self.until(&order, &["refunded"]).await?;
                }
            }
            Plan::Late => {
                let order = self.order(&[(train, 1)]).await?;
                let late = format!("tok_delayed_{}", self.world.window_ms + 1500);
                if self.pay(&order, &late).await {
                    let paid_or_back = ["confirmed", "refunded", "cancelled"];
                    self.until(&order, &paid_or_back).await?;
                }
            }
            Plan::DeclineThenPay => {
                let order = self.order(&[(train, 1)]).await?;
                if self.pay(&order, "tok_decline").await {
                    self.until_payments(&order, |statuses| {
                        !statuses.is_empty() && statuses.iter().all(|s| s == "failed")
                    })
                    .await?;
                    self.pay(&order, "tok_success").await;
                }
                self.until(&order, &SETTLED).await?;
            }
            Plan::RefundFails => {
                let order = self.order(&[(train, 1)]).await?;
                self.pay(&order, "tok_refund_fails").await;
                if self.until(&order, &SETTLED).await? == "confirmed" {
                    self.cancel(&order).await;
                    self.until_payments(&order, |statuses| {
                        statuses.iter().any(|s| s == "refund_failed")
                    })
                    .await?;
                }
            }
            Plan::CancelTicket => {
                let order = self.order(&[(train, 2)]).await?;
                self.pay(&order, "tok_success").await;
                if self.until(&order, &SETTLED).await? == "confirmed" {
                    let path = format!("/orders/{}/tickets/{}/cancel", order.id, order.tickets[0]);
                    let reply = self.client.post(&path, json!({})).await;
                    assert!(matches!(reply.status, 200 | 409), "{}", reply.body);
                    self.until(&order, &["partially_refunded"]).await?;
                }
            }
            Plan::CancelUnpaid => {
                let order = self.order(&[(train, 1)]).await?;
                self.cancel(&order).await;
                self.until(&order, &["cancelled", "expired"]).await?;
            }
            Plan::OnDoomedTrain => {
                let doomed = self.world.doomed;
                let confirmed = self.order(&[(doomed, 1)]).await?;
                self.pay(&confirmed, "tok_success").await;
                self.until(&confirmed, &SETTLED).await?;
                let paid = self.order(&[(doomed, 1), (train, 1)]).await?;
                self.pay(&paid, "tok_delayed_300").await;
                let removed = self
                    .world
                    .admin
                    .send(Method::DELETE, &format!("/trains/{doomed}"), None)
                    .await;
                assert!(matches!(removed.status, 200 | 404), "{}", removed.body);
                let ended = ["refunded", "partially_refunded", "cancelled", "expired"];
                for order in [&confirmed, &paid] {
                    self.until(order, &ended).await?;
                }
            }
        }
        Some(())
    }

    fn any_train(&self) -> i64 {
        let trains = &self.world.trains;
        trains[random_below(trains.len() as u64) as usize]
    }

    fn other_train(&self, train: i64) -> i64 {
        let trains = &self.world.trains;
        let at = trains.iter().position(|t| *t == train).unwrap_or(0);
        trains[(at + 1) % trains.len()]
    }

    /// Holds `seats` second-class seats on each train and orders them; `None` if a hold or
    /// the placement could not be had.
    async fn order(&mut self, legs: &[(i64, usize)]) -> Option<Placed> {
        let mut holds = Vec::new();
        let mut seats = Vec::new();
        for &(train, count) in legs {
            let path = format!("/trains/{train}/holds");
            let reply = self
                .client
                .post(&path, json!({"count": count, "class": "second"}))
                .await;
            if reply.status == 409 {
                return None;
            }
            assert_eq!(reply.status, 201, "{}", reply.body);
            holds.push(reply.body["hold_id"].clone());
            for seat in reply.body["seats"].as_array().expect("seats") {
                seats.push((train, seat.as_str().expect("a seat").to_owned()));
            }
        }
        let reply = self.client.post("/orders", json!({"holds": holds})).await;
        let order = match reply.status {
            201 => {
                self.tally.placed += 1;
                reply.body
            }
            // Its first run may have placed it: the holds are then that order's.
            409 if reply.retried => {
                let order = self.find(&seats).await?;
                self.tally.found_after_retry += 1;
                order
            }
            409 => return None,
            _ => panic!("placing an order: {} {}", reply.status, reply.body),
        };
        Some(Placed {
            id: order["order_id"].as_str().expect("an order id").to_owned(),
            tickets: order["tickets"]
                .as_array()
                .expect("tickets")
                .iter()
                .map(|t| t["ticket_id"].as_i64().expect("a ticket id"))
                .collect(),
        })
    }

    /// The oldest order of the caller's, not cancelled, on exactly `seats`: the one a lost
    /// placement made. (A retry that ran before the trains kept the holds placed a second
    /// order on them, which the trains refuse, as they keep each hold for the first order
    /// that asks.) Looked for a few seconds, as the read model may not show it yet.
    async fn find(&self, seats: &[(i64, String)]) -> Option<Value> {
        let mut wanted = seats.to_vec();
        wanted.sort();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let orders = self.client.get("/orders?limit=1000").await;
            let found = orders
                .as_array()
                .expect("orders")
                .iter()
                .rev()
                .find(|order| {
                    let mut on: Vec<(i64, String)> = order["tickets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| {
                            let seat = t["seat"].as_str().unwrap_or_default().to_owned();
                            (t["train_id"].as_i64().unwrap_or_default(), seat)
                        })
                        .collect();
                    on.sort();
                    order["status"] != "cancelled" && on == wanted
                });
            if found.is_some() || Instant::now() > deadline {
                return found.cloned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks to pay for `order`; whether the payment was asked for. A 409 on a retry is the
    /// first run's payment; on a first try, an order that cannot be paid any more (expired).
    async fn pay(&self, order: &Placed, token: &str) -> bool {
        let body = json!({"order_id": order.id, "method": "card", "token": token});
        let reply = self.client.post("/payments", body).await;
        match reply.status {
            202 => true,
            409 => reply.retried,
            _ => panic!("paying: {} {}", reply.status, reply.body),
        }
    }

    async fn cancel(&self, order: &Placed) {
        let reply = self
            .client
            .post(&format!("/orders/{}/cancel", order.id), json!({}))
            .await;
        assert!(matches!(reply.status, 200 | 409), "{}", reply.body);
    }

    /// Polls the order until its status is one of `wanted`; that status, or `None` if it
    /// does not come within [`WAIT`] (the round is given up; the oracle says why).
    async fn until(&self, order: &Placed, wanted: &[&str]) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        let path = format!("/orders/{}", order.id);
        loop {
            let shown = self.client.get(&path).await;
            let status = shown["status"].as_str().unwrap_or_default();
            if wanted.contains(&status) {
                return Some(status.to_owned());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the caller's payments of `order` until their statuses satisfy `done`; `None`
    /// if they do not within [`WAIT`].
    async fn until_payments(&self, order: &Placed, done: impl Fn(&[String]) -> bool) -> Option<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let listed = self.client.get("/payments?limit=1000").await;
            let statuses: Vec<String> = listed
                .as_array()
                .expect("payments")
                .iter()
                .filter(|p| p["order_id"] == order.id.as_str())
                .map(|p| p["status"].as_str().unwrap_or_default().to_owned())
                .collect();
            if done(&statuses) {
                return Some(());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
