//! PostgreSQL goes away for a few seconds under a steady stream of bookings: a proxy between
//! `booking all` and the server resets every connection and every new one. Commands must
//! answer 503 with a plain JSON detail instead of hanging, the stack must recover by itself
//! once the server is reachable again, and every booking answered 200 must be in the log and
//! in the read models.

use crate::stack::{Http, Stack, booking, eventually};
use event_store::testing::TestDatabase;
use event_store::testing::proxy::{Proxy, authority};
use event_store::{EventStore, Filter, PgEventStore};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TRAINS: i64 = 8;
const CLIENTS: usize = 6;
/// Successes to see before the outage and again after it.
const SUCCESSES: usize = 40;
/// 503s to see while the database is away: every client has met the outage several times.
const REFUSALS: usize = 30;
/// How long the database stays away: the fault itself, not a wait for work.
const OUTAGE: Duration = Duration::from_secs(3);

/// Every answer the clients got.
#[derive(Default)]
struct Tally {
    /// booking id -> (train, user) of each 200.
    booked: BTreeMap<i64, (i64, String)>,
    unavailable: usize,
    /// Anything else: the test fails on it.
    unexpected: Vec<(u16, Value)>,
}

type Shared = Arc<Mutex<Tally>>;

fn read(tally: &Shared) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().expect("tally")
}

/// One client booking on the trains in turn until `stop`, one request at a time.
async fn client(
    http: Http,
    api: String,
    trains: Vec<i64>,
    number: usize,
    tally: Shared,
    stop: CancellationToken,
) {
    let mut n = 0;
    while !stop.is_cancelled() {
        let train = trains[n % trains.len()];
        let user = format!("client-{number}-{n}");
        n += 1;
        let body = json!({ "train_id": train, "user_credentials": user });
        let (status, reply) = http.post(&format!("{api}/bookings"), &body).await;
        let mut tally = read(&tally);
        match (status, reply.as_i64()) {
            (200, Some(id)) => {
                let earlier = tally.booked.insert(id, (train, user));
                assert!(earlier.is_none(), "booking {id} acknowledged twice");
            }
            (503, _)
                if reply
                    == json!({ "detail": "Service temporarily unavailable, please retry" }) =>
            {
                tally.unavailable += 1;
            }
            _ => tally.unexpected.push((status, reply)),
        }
    }
}

/// Every booking the log holds: id -> (train, user).
async fn booked_in_log(store: &PgEventStore) -> BTreeMap<i64, (i64, String)> {
    let mut booked = BTreeMap::new();
    let mut after = None;
    loop {
        let page = store
            .read_all(
                after,
                &Filter::prefixes([domain::TrainId::STREAM_PREFIX]),
                1000,
            )
            .await
            .expect("read the log");
        let Some(last) = page.last() else {
            return booked;
        };
        after = Some(last.position);
        for event in &page {
            if let domain::DomainEvent::Train(domain::TrainEvent::SeatBooked {
                train_id,
                booking_id,
                user_credentials,
                ..
            }) = domain::decode(&event.event_type, &event.metadata, event.data.clone())
                .expect("a known event")
            {
                let domain::Traveller::Named(name) = user_credentials else {
                    panic!("a booking made without accounts names its traveller in the clear");
                };
                booked.insert(booking_id.0, (train_id.0, name));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_for_a_few_seconds_gives_fast_503s_and_loses_no_acknowledged_booking() {
    let database = TestDatabase::create().await;
    let proxy = Proxy::start(authority(&database.url, 5432)).await;
    let mut command = booking(&proxy.url(&database.url));
    // Far beyond the clients' own 30 s deadline: a command that hangs fails the test instead
    // of being turned into a 503 by the request timeout.
    command.env("REQUEST_TIMEOUT_MS", "600000");
    let stack = Stack::all(command).await;
    let mut trains = Vec::new();
    for _ in 0..TRAINS {
        trains.push(stack.train(5_000).await);
    }

    let tally = Shared::default();
    let stop = CancellationToken::new();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| {
            tokio::spawn(client(
                stack.http.clone(),
                stack.api.clone(),
                trains.clone(),
                number,
                tally.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let booked = || read(&tally).booked.len();
    eventually("bookings before the outage", || async {
        booked() >= SUCCESSES
    })
    .await;

    proxy.down();
    let outage = tokio::time::sleep(OUTAGE);
    eventually("503s while the database is away", || async {
        read(&tally).unavailable >= REFUSALS
    })
    .await;
    let (status, ready) = stack.http.get(&format!("{}/health/ready", stack.api)).await;
    assert_eq!(status, 503, "readiness while the database is away: {ready}");
    // The gateway's own lobby commands and queries, and what it forwards, answer the same way.
    let gateway = &stack.gateway;
    for (status, body) in [
        stack
            .http
            .post(
                &format!("{gateway}/lobbies"),
                &json!({ "train_id": trains[0] }),
            )
            .await,
        stack.http.get(&format!("{gateway}/lobbies")).await,
        stack
            .http
            .get(&format!("{gateway}/ts/trains/{}", trains[0]))
            .await,
    ] {
        assert_eq!(status, 503, "{body}");
        assert!(body["detail"].is_string() && body.as_object().is_some_and(|o| o.len() == 1));
    }
    outage.await;

    proxy.up();
    let at_recovery = booked();
    eventually("bookings after the outage, without a restart", || async {
        booked() >= at_recovery + SUCCESSES
    })
    .await;
    eventually("the gateway to forward again", || async {
        let url = format!("{gateway}/ts/trains/{}", trains[0]);
        stack.http.get(&url).await.0 == 200
    })
    .await;
    let lobby = json!({ "train_id": trains[0] });
    let (status, body) = stack.http.post(&format!("{gateway}/lobbies"), &lobby).await;
    assert_eq!(status, 200, "{body}");
    stop.cancel();
    for client in clients {
        client.await.expect("a client finished");
    }
    let tally = std::mem::take(&mut *read(&tally));
    assert!(
        tally.unexpected.is_empty(),
        "answers other than 200 and 503: {:?}",
        tally.unexpected
    );

    // Every acknowledged booking is in the log, as acknowledged...
    let direct = database.pool(2).await;
    let store = PgEventStore::new(direct.clone())
        .await
        .expect("event store");
    let in_log = booked_in_log(&store).await;
    for (id, booking) in &tally.booked {
        assert_eq!(in_log.get(id), Some(booking), "booking {id} in the log");
    }
    // ...and in the read models, once the projector has caught up with the log.
    eventually(
        "the read models to hold every booking in the log",
        || async {
            let rows: Vec<(i64, i64, String)> =
                sqlx::query_as("SELECT id, train_id, user_credentials FROM read_models.bookings")
                    .fetch_all(&direct)
                    .await
                    .unwrap_or_default();
            let in_read_model: BTreeMap<i64, (i64, String)> = rows
                .into_iter()
                .map(|(id, train, user)| (id, (train, user)))
                .collect();
            in_read_model == in_log
        },
    )
    .await;
    for id in tally.booked.keys() {
        let (status, view) = stack
            .http
            .get(&format!("{}/bookings/{id}", stack.api))
            .await;
        assert_eq!(status, 200, "booking {id}: {view}");
    }
    // Trains and seats too: the read models are what a clean replay of the log makes.
    let verify = booking(&database.url)
        .arg("verify")
        .output()
        .expect("run verify");
    assert!(
        verify.status.success(),
        "verify found differences:\n{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
