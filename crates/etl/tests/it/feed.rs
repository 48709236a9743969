//! The feed's contract with whoever consumes it: persistent messages carrying events in log
//! order as a JSON array, whose id is the first event's id, with headers `position` (the
//! last event's) and `events` (how many), and a checkpoint that reaches the head once all
//! are confirmed.

use crate::support::{World, scenario};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::{AMQPValue, FieldTable};
use projector::feed::FeedMessage;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_in_order_in_persistent_batches() {
    let world = World::new().await;
    scenario::write(&world.store).await;
    let expected = world.messages().await;
    let shutdown = CancellationToken::new();
    let feed = tokio::spawn(projector::feed::run(
        world.store.clone(),
        world.log.clone(),
        world.amqp.clone(),
        projector::feed::Settings::default(),
        shutdown.clone(),
    ));

    // The feed declares the queue itself: it may not exist before the feed runs.
    let connection = world.amqp.connect().await.expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let head = expected.last().map(|m| m.position).expect("a head");
    while event_store::checkpoint::load(&world.log, projector::feed::FEED_NAME)
        .await
        .expect("checkpoint")
        < head
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed did not confirm"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut deliveries = channel
        .basic_consume(
            world.amqp.queue().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let (mut received, mut batches) = (Vec::new(), 0);
    while received.len() < expected.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
            .await
            .expect("a delivery in time")
            .expect("a delivery")
            .expect("no error");
        let events: Vec<FeedMessage> = serde_json::from_slice(&delivery.data).expect("an array");
        let (first, last) = (
            events.first().expect("an event"),
            events.last().expect("an event"),
        );
        let properties = &delivery.properties;
        assert_eq!(
            properties.message_id().as_ref().map(|id| id.to_string()),
            Some(first.id.to_string())
        );
        assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
        let header = |name: &str| {
            properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(name).cloned())
        };
        assert_eq!(
            header("position"),
            Some(AMQPValue::LongString(last.position.to_string().into()))
        );
        assert_eq!(
            header("events"),
            Some(AMQPValue::LongLongInt(events.len() as i64))
        );
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        batches += 1;
        received.extend(events);
    }
    // The scenario is appended before the feed starts: it lingers for more, not for each.
    assert!(
        batches < expected.len(),
        "{batches} messages for {} events: not batched",
        expected.len()
    );
    assert_eq!(received, expected, "every event once, in log order");

    shutdown.cancel();
    feed.await.expect("feed stopped");
    connection.close(200, "done".into()).await.ok();
    world.cleanup().await;
}
