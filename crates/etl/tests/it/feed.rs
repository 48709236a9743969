//! The feed's contract with whoever consumes it: persistent messages whose id is the event
//! id, a `position` header, and a checkpoint that reaches the head once all are confirmed.

use crate::support::{World, scenario};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::{AMQPValue, FieldTable};
use projector::feed::FeedMessage;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_persistent_with_its_id_and_position() {
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
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
            .await
            .expect("a delivery in time")
            .expect("a delivery")
            .expect("no error");
        let message: FeedMessage = serde_json::from_slice(&delivery.data).expect("json");
        let properties = &delivery.properties;
        assert_eq!(
            properties.message_id().as_ref().map(|id| id.to_string()),
            Some(message.id.to_string())
        );
        assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
        let position = properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("position").cloned());
        assert_eq!(
            position,
            Some(AMQPValue::LongString(message.position.to_string().into()))
        );
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        received.push(message);
    }
    assert_eq!(received, expected, "every event once, in log order");

    shutdown.cancel();
    feed.await.expect("feed stopped");
    connection.close(200, "done".into()).await.ok();
    world.cleanup().await;
}
