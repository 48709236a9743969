//! Backfill reads the log directly and builds exactly the warehouse the live feed builds.

use crate::support::{World, dump, generate, scenario, wait_loaded};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_builds_the_same_warehouse_as_the_live_feed() {
    let world = World::new().await;
    let shutdown = CancellationToken::new();
    let tasks = world.start(&world.amqp, &shutdown);
    scenario::write(&world.store).await;
    let total = scenario::EVENTS + generate(&world.store, 10, 30, 40).await;
    wait_loaded(&world.warehouse, total).await;
    let live = dump(&world.warehouse).await;

    let (_db, backfilled) = World::another_warehouse().await;
    let report = etl::backfill(&world.store, &backfilled, 333, false)
        .await
        .expect("backfill");
    assert_eq!((report.events as i64, report.loaded as i64), (total, total));
    assert_eq!(dump(&backfilled).await, live);

    // Over a warehouse that already holds everything, backfill finds nothing new.
    let again = etl::backfill(&world.store, &world.warehouse, 1000, false)
        .await
        .expect("backfill over live");
    assert_eq!((again.events as i64, again.loaded), (total, 0));
    assert_eq!(dump(&world.warehouse).await, live);

    shutdown.cancel();
    for task in tasks {
        task.await.expect("stopped");
    }
    world.cleanup().await;
}
