//! The conformance suite against PostgreSQL, one throwaway database per test.

use event_store::PgEventStore;
use event_store::conformance::Harness;
use event_store::testing::TestDatabase;

struct PgHarness {
    database: TestDatabase,
    store: PgEventStore,
}

impl PgHarness {
    async fn new() -> Self {
        let database = TestDatabase::create().await;
        let store = PgEventStore::connect(&database.url, 10)
            .await
            .expect("connect the store");
        Self { database, store }
    }
}

impl Harness for PgHarness {
    type Store = PgEventStore;

    fn store(&self) -> PgEventStore {
        self.store.clone()
    }

    async fn interrupt(&self) {
        self.database.kill_connections().await;
    }
}

event_store::conformance_tests!(PgHarness::new());
