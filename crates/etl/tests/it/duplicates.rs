//! Repeats and reordering: a duplicate delivery changes nothing, and an older update never
//! overwrites a newer one, whatever order the messages come in.

use crate::support::{World, dump, loaded, scenario, wait_loaded};
use event_store::{EventStore, ExpectedRevision};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_changes_nothing() {
    let world = World::new().await;
    let shutdown = CancellationToken::new();
    let tasks = world.start(&world.amqp, &shutdown);
    scenario::write(&world.store).await;
    wait_loaded(&world.warehouse, scenario::EVENTS).await;
    let before = dump(&world.warehouse).await;

    // Publish every message a second time, as a feed that crashed before its checkpoint would.
    let connection = world.amqp.connect().await.expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    for message in world.messages().await {
        let body = serde_json::to_vec(&message).expect("json");
        let confirm = channel
            .basic_publish(
                world.amqp.exchange().into(),
                "".into(),
                BasicPublishOptions::default(),
                &body,
                message.properties(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(confirm.is_ack());
    }
    // A lobby event changes no fact; once it is loaded, every duplicate before it in the
    // queue has been processed.
    let sentinel = scenario::encode(domain::LobbyEvent::LobbyOpened {
        lobby_id: domain::LobbyId(2),
        train_id: domain::TrainId(2),
        opened_at: scenario::at(5, 0),
    });
    let sentinel_id = sentinel.id.to_string();
    world
        .store
        .append(
            &domain::TrainId(2).lobby_stream(),
            ExpectedRevision::NoStream,
            vec![sentinel],
        )
        .await
        .expect("append the sentinel");
    wait_loaded(&world.warehouse, scenario::EVENTS + 1).await;

    let after: Vec<String> = dump(&world.warehouse)
        .await
        .into_iter()
        .filter(|line| !line.contains(&sentinel_id))
        .collect();
    assert_eq!(after, before);
    assert_eq!(loaded(&world.warehouse).await, scenario::EVENTS + 1);

    shutdown.cancel();
    for task in tasks {
        task.await.expect("stopped");
    }
    connection.close(200, "done".into()).await.ok();
    world.cleanup().await;
}

#[tokio::test]
async fn loading_a_batch_twice_or_with_repeats_inside_loads_each_event_once() {
    let world = World::new().await;
    scenario::write(&world.store).await;
    let messages = world.messages().await;
    let mut doubled = messages.clone();
    doubled.extend(messages.iter().cloned());

    let first = etl::load(&world.warehouse, &doubled).await.expect("load");
    assert_eq!(first.fresh as i64, scenario::EVENTS);
    assert_eq!(first.repeated as i64, scenario::EVENTS);
    let once = dump(&world.warehouse).await;

    let again = etl::load(&world.warehouse, &messages).await.expect("load");
    assert_eq!((again.fresh, again.repeated as i64), (0, scenario::EVENTS));
    assert_eq!(dump(&world.warehouse).await, once);
}

#[tokio::test]
async fn messages_in_reverse_order_build_the_same_warehouse() {
    let world = World::new().await;
    scenario::write(&world.store).await;
    crate::support::generate(&world.store, 10, 8, 12).await;
    let messages = world.messages().await;
    etl::load(&world.warehouse, &messages)
        .await
        .expect("in order");

    let (_db, reversed) = crate::support::load_newest_first(&messages).await;
    assert_eq!(dump(&reversed).await, dump(&world.warehouse).await);
}
