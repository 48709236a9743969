//! One traveller's rounds: what each plan does with its order, and how the traveller holds,
//! places, pays, cancels and waits, retrying what a kill cut short.

use super::{MAX_ROUNDS, Plan, Tally, WAIT, World};
use crate::crash::random_below;
use crate::order_crash::client::Client;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

impl World {
    /// Plays rounds of traveller `n`'s plan until `over`; what it did.
    pub(super) async fn traveller(&self, n: usize, over: CancellationToken) -> (Plan, Tally) {
        let (plan, client) = &self.travellers[n];
        let mut me = Traveller {
            world: self,
            client,
            tally: Tally::default(),
            removed: false,
        };
        for _ in 0..MAX_ROUNDS {
            if over.is_cancelled() {
                break;
            }
            let plan = match *plan {
                Plan::OnDoomedTrain if me.removed => Plan::Pay("tok_success"),
                plan => plan,
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

/// An order as its owner knows it.
struct Placed {
    id: String,
    tickets: Vec<i64>,
}

struct Traveller<'a> {
    world: &'a World,
    client: &'a Client,
    tally: Tally,
    /// Whether it had the doomed train removed.
    removed: bool,
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
                self.removed = true;
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
