//! An etl killed after its batch committed but before it acknowledged: the broker delivers
//! the batch again, and the warehouse counts every event once.

use crate::support::{World, dump, loaded, reference, scenario, wait_loaded};
use etl::FeedConsumer;
use event_store::EventStore;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etl_killed_before_acknowledging_doubles_nothing() {
    let world = World::new().await;
    scenario::write(&world.store).await;
    let head = world
        .store
        .read_all(None, &projector::feed::FeedMessage::filter(), 1000)
        .await
        .expect("read")
        .last()
        .map(|e| e.position)
        .expect("a head");

    // Only the feed runs, five events to a message: wait until it has every event confirmed
    // by the broker.
    let feed_stop = CancellationToken::new();
    let feed = tokio::spawn(projector::feed::run(
        world.store.clone(),
        world.log.clone(),
        world.amqp.clone(),
        projector::feed::Settings {
            batch_size: 5,
            ..projector::feed::Settings::default()
        },
        feed_stop.clone(),
    ));
    let messages = (scenario::EVENTS + 4) / 5;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while event_store::checkpoint::load(&world.log, projector::feed::FEED_NAME)
        .await
        .expect("checkpoint")
        < head
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed did not publish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // First etl: loads and commits a batch, then dies without acknowledging it.
    let flush = Duration::from_millis(50);
    let mut doomed = FeedConsumer::connect(&world.amqp, 5, flush)
        .await
        .expect("consumer");
    let batch = doomed.next_batch().await.expect("a batch");
    assert_eq!(batch.len(), 5);
    let mut tx = world.warehouse.begin().await.expect("begin");
    etl::load_in(&mut tx, &batch.messages, &batch.rejected)
        .await
        .expect("load");
    tx.commit().await.expect("commit");
    drop(doomed);
    assert_eq!(loaded(&world.warehouse).await, 5);
    // The broker notices the dead connection and puts its deliveries back.
    let ready = world.amqp.connect().await.expect("connect");
    let channel = ready.create_channel().await.expect("channel");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let queue = channel
            .queue_declare(
                world.amqp.queue().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("queue");
        if queue.consumer_count() == 0 && i64::from(queue.message_count()) == messages {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries not returned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ready.close(200, "done".into()).await.ok();

    // The next etl gets that message's five again, marked redelivered, and skips them all.
    let mut next = FeedConsumer::connect(&world.amqp, 5, flush)
        .await
        .expect("consumer");
    let again = next.next_batch().await.expect("the batch again");
    assert_eq!((again.len(), again.redelivered), (5, 1));
    let mut tx = world.warehouse.begin().await.expect("begin");
    let outcome = etl::load_in(&mut tx, &again.messages, &again.rejected)
        .await
        .expect("load");
    tx.commit().await.expect("commit");
    next.ack(&again).await.expect("ack");
    assert_eq!((outcome.fresh, outcome.repeated), (0, 5));
    drop(next);

    // The real loop takes the rest.
    let shutdown = CancellationToken::new();
    let etl_task = tokio::spawn(etl::run(
        world.amqp.clone(),
        world.warehouse.clone(),
        etl::Settings::new(world.warehouse_db.url.clone()),
        shutdown.clone(),
    ));
    wait_loaded(&world.warehouse, scenario::EVENTS).await;
    assert_eq!(dump(&world.warehouse).await, reference(&world).await);

    shutdown.cancel();
    feed_stop.cancel();
    etl_task.await.expect("etl stopped");
    feed.await.expect("feed stopped");
    world.cleanup().await;
}
