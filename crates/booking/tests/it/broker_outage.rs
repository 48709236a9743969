//! RabbitMQ goes away: a proxy resets every connection between `booking all` and the broker.
//! Commands and queries go on, each command visible to the next query, because the read
//! models never wait for the warehouse feed; once the broker is back the warehouse catches up
//! with the whole log.

use crate::stack::{Stack, amqp_url, booking, eventually, loaded};
use etl::testing::TestTopology;
use event_store::testing::TestDatabase;
use event_store::testing::proxy::{Proxy, authority};
use event_store::{EventStore, PgEventStore};
use projector::feed::FeedMessage;
use serde_json::json;

const TRAINS: i64 = 3;
const BOOKINGS: i64 = 5;

/// Trains and bookings, each read back at once: the query must show the command.
async fn traffic(stack: &Stack) {
    let http = &stack.http;
    for _ in 0..TRAINS {
        let train = stack.train(100).await;
        let (status, view) = http.get(&format!("{}/trains/{train}", stack.api)).await;
        assert_eq!(
            (status, &view["available_seats"]),
            (200, &json!(100)),
            "{view}"
        );
        for b in 0..BOOKINGS {
            let user = format!("traveller-{b}");
            let body = json!({ "train_id": train, "user_credentials": user });
            let (status, id) = http.post(&format!("{}/bookings", stack.api), &body).await;
            assert_eq!(status, 200, "{id}");
            let (status, view) = http.get(&format!("{}/bookings/{id}", stack.api)).await;
            assert_eq!(status, 200, "{view}");
            assert_eq!(
                (&view["train_id"], &view["user_credentials"]),
                (&json!(train), &json!(user))
            );
        }
        let (_, view) = http.get(&format!("{}/trains/{train}", stack.api)).await;
        assert_eq!(view["available_seats"], 100 - BOOKINGS, "{view}");
    }
}

/// Events the warehouse feed carries, and the bookings among them.
async fn in_log(store: &PgEventStore) -> (i64, i64) {
    let (mut events, mut bookings) = (0, 0);
    let mut after = None;
    loop {
        let page = store
            .read_all(after, &FeedMessage::filter(), 1000)
            .await
            .expect("read the log");
        let Some(last) = page.last() else {
            return (events, bookings);
        };
        after = Some(last.position);
        events += page.len() as i64;
        bookings += page.iter().filter(|e| e.event_type == "SeatBooked").count() as i64;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rabbitmq_away_reads_keep_up_and_the_warehouse_catches_up_after() {
    let log = TestDatabase::create().await;
    let warehouse_db = TestDatabase::create().await;
    let topology = TestTopology::new(&amqp_url());
    let amqp = &topology.amqp;
    let proxy = Proxy::start(authority(&amqp.url, 5672)).await;
    let mut command = booking(&log.url);
    command
        .env("WAREHOUSE", "true")
        .env("AMQP_URL", proxy.url(&amqp.url))
        .env("AMQP_PREFIX", &amqp.prefix)
        .env("WAREHOUSE_DATABASE_URL", &warehouse_db.url)
        .env("FEED_MAX_BACKOFF_MS", "500")
        // A command waits this long for the read models before answering anyway; generous,
        // so a slow machine does not pass for a broken read-your-writes. A projector blocked
        // by the broker would still be caught: the query after the command would miss it.
        .env("READ_YOUR_WRITES_TIMEOUT_MS", "20000");
    let stack = Stack::all(command).await;
    let store = PgEventStore::new(log.pool(2).await)
        .await
        .expect("event store");
    let warehouse = warehouse_db.pool(2).await;

    traffic(&stack).await;
    let (before, _) = in_log(&store).await;
    eventually("the warehouse to load the log", || async {
        loaded(&warehouse).await == before
    })
    .await;

    proxy.down();
    traffic(&stack).await;
    let (events, bookings) = in_log(&store).await;
    assert_eq!(
        loaded(&warehouse).await,
        before,
        "nothing written while the broker is away can reach the warehouse"
    );

    proxy.up();
    eventually("the warehouse to catch up", || async {
        loaded(&warehouse).await == events
    })
    .await;
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM warehouse.fact_booking")
        .fetch_one(&warehouse)
        .await
        .expect("count facts");
    assert_eq!(facts, bookings);
}
