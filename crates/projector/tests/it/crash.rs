//! Lost connections in the middle of batches: every batch's rows and checkpoint commit
//! together, so the read models end up exactly as a clean run leaves them.

use crate::support::{actual, caught_up, write_history};
use event_store::PgEventStore;
use event_store::testing::TestDatabase;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_every_connection_mid_batch_neither_loses_nor_doubles_an_update() {
    let database = TestDatabase::create().await;
    let pool = database.pool(20).await;
    let store = PgEventStore::new(pool.clone()).await.expect("store");
    projector::migrate(&pool).await.expect("migrate");
    let (expected, last) = write_history(&store, 60).await;

    let shutdown = CancellationToken::new();
    let settings = projector::Settings {
        batch_size: 50,
        standby_poll_ms: 50,
    };
    let run = tokio::spawn(projector::run(
        store.clone(),
        pool.clone(),
        settings,
        shutdown.clone(),
    ));
    let mut kills = 0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        kills += database.kill_connections().await;
    }
    assert!(kills > 0, "the test must actually cut connections");
    caught_up(&pool, last).await;
    assert_eq!(actual(&pool).await, expected);

    shutdown.cancel();
    run.await.expect("projector stopped");
}
