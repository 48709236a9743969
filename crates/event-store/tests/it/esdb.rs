//! The conformance suite on the EventStoreDB adapter, with the real `kurrentdb` client over
//! loopback gRPC: against the in-repo double always, and against a real server when
//! `TEST_KURRENTDB_URL` names one (those tests are ignored otherwise; run them with
//! `--run-ignored`). Then the adapter's own duties: supervision and start-up retry.

use esdb_double::EsdbDouble;
use event_store::conformance::Harness;
use event_store::testing::Scoped;
use event_store::testing::proxy::{Proxy, authority};
use event_store::{EventStore, ExpectedRevision, Filter, KurrentStore, NewEvent, RecordedEvent};
use std::collections::HashSet;
use std::time::Duration;

/// Logs to the test output when `TEST_LOG` is set.
fn log_if_asked() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,hyper_util=info,tower=info")
            .with_test_writer()
            .try_init();
    }
}

/// The adapter on a fresh double; an interrupt crashes the double and starts it again.
pub struct DoubleHarness {
    double: EsdbDouble,
    store: KurrentStore,
}

impl DoubleHarness {
    pub async fn new() -> Self {
        log_if_asked();
        let double = EsdbDouble::start().await.expect("start the double");
        let store = KurrentStore::connect(&double.url())
            .await
            .expect("connect the store");
        Self { double, store }
    }
}

impl Harness for DoubleHarness {
    type Store = KurrentStore;

    fn store(&self) -> KurrentStore {
        self.store.clone()
    }

    async fn interrupt(&self) {
        self.double.stop().await;
        // Down for a moment, so reconnects meet a closed port, as after a real crash.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.double.restart().await.expect("restart the double");
    }
}

mod double {
    use super::DoubleHarness;
    event_store::conformance_tests!(DoubleHarness::new(); event_ids_per_stream);
}

/// The adapter on the real server named by `TEST_KURRENTDB_URL` (one node, e.g.
/// `esdb://127.0.0.1:2113?tls=false`), reached through a proxy whose connections an
/// interrupt cuts; each test writes under its own stream prefix.
pub struct ServerHarness {
    proxy: Proxy,
    store: Scoped<KurrentStore>,
}

impl ServerHarness {
    pub async fn new() -> Self {
        log_if_asked();
        let url = std::env::var("TEST_KURRENTDB_URL")
            .expect("TEST_KURRENTDB_URL names the KurrentDB/EventStoreDB server to test");
        let proxy = Proxy::start(authority(&url, 2113)).await;
        let proxied = proxy.url(&url);
        let store = KurrentStore::connect(&proxied)
            .await
            .expect("connect the store");
        Self {
            proxy,
            store: Scoped::new(store),
        }
    }
}

impl Harness for ServerHarness {
    type Store = Scoped<KurrentStore>;

    fn store(&self) -> Self::Store {
        self.store.clone()
    }

    async fn interrupt(&self) {
        // Down and up again: every open connection is reset, new ones are forwarded.
        self.proxy.down();
        self.proxy.up();
    }
}

mod kurrentdb_server {
    use super::ServerHarness;
    event_store::conformance_tests!(
        ignore = "needs a real server: set TEST_KURRENTDB_URL and pass --run-ignored";
        ServerHarness::new(); event_ids_per_stream
    );
}

fn events(kind: &str, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|n| NewEvent::new(kind, serde_json::json!({ "n": n })))
        .collect()
}

async fn take(subscription: &mut event_store::Subscription, count: usize) -> Vec<RecordedEvent> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let batch = tokio::time::timeout(Duration::from_secs(60), subscription.next_batch(100))
            .await
            .expect("events before the deadline")
            .expect("no subscription error");
        assert!(!batch.is_empty(), "the subscription ended");
        seen.extend(batch);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_inside_the_client_becomes_a_resubscription() {
    let harness = DoubleHarness::new().await;
    let store = harness.store();
    store
        .append("feed-1", ExpectedRevision::Any, events("Old", 5))
        .await
        .expect("append");
    // The double answers the first subscription, after its first events, with a reply the
    // kurrentdb client hits `unreachable!()` on: a panic inside the client crate.
    harness.double.break_next_subscription();
    let mut subscription = store.subscribe(None, Filter::prefixes(["feed-"]));
    let mut seen = take(&mut subscription, 5).await;
    store
        .append("feed-1", ExpectedRevision::Any, events("New", 5))
        .await
        .expect("append");
    seen.extend(take(&mut subscription, 5).await);

    assert!(
        harness.double.subscriptions_opened() >= 2,
        "the broken subscription was replaced"
    );
    let ids: HashSet<_> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 10, "nothing delivered twice");
    let log = store
        .read_all(None, &Filter::prefixes(["feed-"]), 100)
        .await
        .expect("read");
    assert_eq!(seen, log, "nothing skipped, in log order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscription_closes_it_on_the_server() {
    let harness = DoubleHarness::new().await;
    let store = harness.store();
    store
        .append("feed-1", ExpectedRevision::Any, events("E", 3))
        .await
        .expect("append");
    let mut subscription = store.subscribe(None, Filter::all());
    take(&mut subscription, 3).await;
    assert_eq!(harness.double.open_subscriptions(), 1);

    drop(subscription);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while harness.double.open_subscriptions() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still serves a dropped subscription"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_connects_once_the_server_comes_up() {
    let double = EsdbDouble::start().await.expect("start the double");
    double.stop().await;
    let url = double.url();
    let connecting = tokio::spawn(async move { KurrentStore::connect(&url).await });
    // Let at least one attempt fail against the closed port first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    double.restart().await.expect("start the double again");
    let store = connecting
        .await
        .expect("connect task")
        .expect("connected after retrying");
    store
        .append("up-1", ExpectedRevision::NoStream, events("Up", 1))
        .await
        .expect("append once connected");
}

#[tokio::test]
async fn an_unreachable_server_is_reported_as_unavailable_not_as_a_conflict() {
    let double = EsdbDouble::start().await.expect("start the double");
    let store = KurrentStore::connect(&double.url()).await.expect("connect");
    double.stop().await;
    let refused = store
        .append("down-1", ExpectedRevision::Any, events("Down", 1))
        .await;
    assert!(
        matches!(refused, Err(event_store::StoreError::Unavailable(_))),
        "{refused:?}"
    );
}
