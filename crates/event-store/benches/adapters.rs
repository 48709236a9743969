//! Both adapters side by side, in one run: the PostgreSQL adapter on a throwaway database and
//! the EventStoreDB adapter (the real kurrentdb client over loopback gRPC) on the in-repo
//! double.
//!
//!   cargo bench -p event-store --bench adapters       (BENCH_SECS=5 per append figure)
//!
//! "append" is 8 writers appending one event at a time with an exact expected revision;
//! "subscribe" is one subscription from the start of the log delivering everything those
//! appends wrote (catch-up delivery, consumed in batches as the projector does). The double
//! is not a performance reference: its figures only show that the adapter adds no gross
//! overhead of its own.

mod support;

use esdb_double::EsdbDouble;
use event_store::testing::TestDatabase;
use event_store::{EventStore, Filter, KurrentStore, PgEventStore};
use std::time::{Duration, Instant};
use support::{WRITERS, adapter_appends, window};

#[tokio::main]
async fn main() {
    let window = window();

    let database = TestDatabase::create().await;
    let postgres = PgEventStore::connect(&database.url, WRITERS as u32 + 2)
        .await
        .expect("PostgreSQL event store");
    let double = EsdbDouble::start().await.expect("start the double");
    let kurrent = KurrentStore::connect(&double.url())
        .await
        .expect("EventStoreDB adapter on the double");

    let pg = measure(&postgres, window).await;
    let esdb = measure(&kurrent, window).await;

    println!(
        "{:<52} {:>14} {:>14}",
        "figure (events/s)", "PostgreSQL", "ESDB (double)"
    );
    println!(
        "{:<52} {:>14.0} {:>14.0}",
        format!("append ({WRITERS} writers, 1 event each, exact revision)"),
        pg.append,
        esdb.append
    );
    println!(
        "{:<52} {:>14.0} {:>14.0}",
        "subscribe (catch-up delivery from the start)", pg.subscribe, esdb.subscribe
    );
    println!(
        "events written: PostgreSQL {}, ESDB {}",
        pg.events, esdb.events
    );
}

struct Figures {
    append: f64,
    subscribe: f64,
    events: usize,
}

async fn measure<S: EventStore>(store: &S, window: Duration) -> Figures {
    let (append, events) = adapter_appends(store, WRITERS, window).await;

    let started = Instant::now();
    let mut subscription = store.subscribe(None, Filter::all());
    let mut delivered = 0;
    while delivered < events {
        let batch = subscription
            .next_batch(1000)
            .await
            .expect("subscription read");
        assert!(!batch.is_empty(), "subscription ended early");
        delivered += batch.len();
    }
    Figures {
        append,
        subscribe: delivered as f64 / started.elapsed().as_secs_f64(),
        events: delivered,
    }
}
