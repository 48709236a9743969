//! The broker connection drops mid-stream (a proxy cuts it): the read models keep going, the
//! feed and the etl wait and resume, and the warehouse ends up complete, nothing doubled.

use crate::support::{World, amqp_url, dump, generate, loaded, reference, scenario, wait_loaded};
use event_store::testing::proxy::{Proxy, authority};
use event_store::{EventStore, Position};
use projector::feed::{Amqp, FeedMessage};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn head(world: &World) -> Position {
    let mut after = None;
    loop {
        let page = world
            .store
            .read_all(after, &FeedMessage::filter(), 10_000)
            .await
            .expect("read");
        match page.last() {
            Some(last) => after = Some(last.position),
            None => return after.unwrap_or_default(),
        }
    }
}

/// Waits until every read-model projection has passed `position`.
async fn read_models_at(world: &World, position: Position) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let checkpoints = event_store::checkpoint::Checkpoints::all(&world.log)
            .await
            .unwrap_or_default();
        let projections: Vec<_> = checkpoints
            .iter()
            .filter(|(name, _)| projector::Projection::ALL.iter().any(|p| p.name() == name))
            .collect();
        if projections.len() == projector::Projection::ALL.len()
            && projections.iter().all(|(_, at)| *at >= position)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "read models stuck: {checkpoints:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_more_than(world: &World, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while loaded(&world.warehouse).await <= count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress past {count}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_broker_mid_stream_loses_nothing_and_blocks_no_read_model() {
    let world = World::new().await;
    let proxy = Proxy::start(authority(&amqp_url(), 5672)).await;
    let through_proxy = Amqp::new(proxy.url(&amqp_url()), world.amqp.prefix.clone());
    let shutdown = CancellationToken::new();
    let mut tasks = world.start(&through_proxy, &shutdown);
    tasks.push(tokio::spawn(projector::run(
        world.store.clone(),
        world.log.clone(),
        projector::Settings {
            batch_size: 100,
            standby_poll_ms: 50,
        },
        shutdown.clone(),
    )));
    scenario::write(&world.store).await;
    wait_loaded(&world.warehouse, scenario::EVENTS).await;

    // The broker is gone: the read models still follow the log.
    proxy.down();
    let mut total = scenario::EVENTS + generate(&world.store, 100, 20, 30).await;
    read_models_at(&world, head(&world).await).await;
    assert_eq!(
        loaded(&world.warehouse).await,
        scenario::EVENTS,
        "nothing can reach the warehouse"
    );

    // Back, then cut again and again while the backlog streams through.
    proxy.up();
    total += generate(&world.store, 200, 40, 60).await;
    let mut cuts_mid_stream = 0;
    for _ in 0..3 {
        let now = loaded(&world.warehouse).await;
        if now >= total {
            break;
        }
        wait_more_than(&world, now).await;
        proxy.down();
        if loaded(&world.warehouse).await < total {
            cuts_mid_stream += 1;
        }
        proxy.up();
    }
    assert!(
        cuts_mid_stream > 0,
        "the test must cut while the stream flows"
    );
    wait_loaded(&world.warehouse, total).await;
    assert_eq!(loaded(&world.warehouse).await, total);
    assert_eq!(dump(&world.warehouse).await, reference(&world).await);

    shutdown.cancel();
    for task in tasks {
        task.await.expect("stopped");
    }
    world.cleanup().await;
}
