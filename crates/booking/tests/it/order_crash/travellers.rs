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

mod round;

use super::client::{Client, sign_in};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
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
    /// train, and the doomed train removed as soon as the payment is asked for; once it is
    /// removed, as `Pay("tok_success")`.
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
        let signed = |token: String| Client::new(&http, base, Some(token), &retries);
        let admin = signed(sign_in(&http, base, ADMIN_EMAIL, PASSWORD).await);
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
            let reply = Client::new(&http, base, None, &retries)
                .post("/api/users/register", body)
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            let token = sign_in(&http, base, &email, PASSWORD).await;
            travellers.push((plan, signed(token)));
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
}

/// One traveller's count.
#[derive(Default)]
struct Tally {
    rounds: usize,
    placed: usize,
    found_after_retry: usize,
    abandoned: usize,
}
