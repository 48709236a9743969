//! Live lobbies over real websockets.

use crate::support::{
    Socket, Stack, close_code, eventually, next_json, next_of, say, until_confirmed,
};
use serde_json::json;

/// Connects a member to `lobby` on `gateway` and reads its welcome.
async fn member(stack: &Stack, gateway: usize, lobby: i64) -> (Socket, serde_json::Value) {
    let mut socket = stack.gateways[gateway]
        .ws(&format!("/lobbies/ws/{lobby}"))
        .await;
    let welcome = next_json(&mut socket).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (socket, welcome)
}

#[tokio::test]
async fn a_member_sees_another_clients_booking_with_its_id_and_the_seats_left() {
    let stack = Stack::start(1, |_| {}).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let mut socket = stack.gateway().ws(&format!("/ls/lobbies/ws/{lobby}")).await;
    let welcome = next_json(&mut socket).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(
        (welcome["lobby_id"].clone(), welcome["train_id"].clone()),
        (json!(lobby), json!(train))
    );

    let booking = stack.start_booking(train, "Tom Ford").await;
    let confirmed = next_of(&mut socket, "booking_confirmed").await;
    assert_eq!(confirmed["booking_id"], booking);
    assert_eq!(confirmed["train_id"], train);
    assert_eq!(confirmed["seats_left"], 9);
    assert!(
        confirmed["position"]
            .as_str()
            .is_some_and(|p| p.contains('.'))
    );
    assert!(
        !confirmed.to_string().contains("Tom Ford"),
        "no personal data: {confirmed}"
    );
}

#[tokio::test]
async fn cancellations_changes_and_removal_reach_the_lobby_which_then_closes() {
    let stack = Stack::start(1, |_| {}).await;
    let gateway = stack.gateway();
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (mut socket, _) = member(&stack, 0, lobby).await;
    let booking = stack.start_booking(train, "Ann").await;
    next_of(&mut socket, "booking_confirmed").await;
    stack
        .delete(gateway.url(&format!("/ts/bookings/{booking}")))
        .await;
    let cancelled = next_of(&mut socket, "booking_cancelled").await;
    assert_eq!(
        (
            cancelled["booking_id"].clone(),
            cancelled["seats_left"].clone()
        ),
        (json!(booking), json!(10))
    );
    let changed = stack
        .send(
            stack
                .client
                .put(gateway.url(&format!("/ts/trains/{train}")))
                .json(&json!({"available_seats": 20})),
        )
        .await;
    assert_eq!(changed.status, 200);
    let updated = next_of(&mut socket, "train_updated").await;
    assert_eq!(updated["seats_left"], 20);
    stack
        .delete(gateway.url(&format!("/ts/trains/{train}")))
        .await;
    next_of(&mut socket, "train_removed").await;
    let closed = next_of(&mut socket, "lobby_closed").await;
    assert_eq!(
        (closed["lobby_id"].clone(), closed["reason"].clone()),
        (json!(lobby), json!("train_removed"))
    );
    assert_eq!(close_code(&mut socket).await, 1000);
}

#[tokio::test]
async fn two_gateways_relay_chat_and_announce_a_booking_once_per_member() {
    let stack = Stack::start(2, |_| {}).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (mut a, _) = member(&stack, 0, lobby).await;
    let (mut b, _) = member(&stack, 1, lobby).await;
    let (mut c, _) = member(&stack, 1, lobby).await;

    say(&mut a, "hello from a").await;
    for socket in [&mut b, &mut c] {
        let chat = next_of(socket, "chat").await;
        assert_eq!(
            (chat["text"].clone(), chat["lobby_id"].clone()),
            (json!("hello from a"), json!(lobby))
        );
    }
    say(&mut b, "hello from b").await;
    assert_eq!(next_of(&mut a, "chat").await["text"], "hello from b");
    assert_eq!(next_of(&mut c, "chat").await["text"], "hello from b");

    // A second booking is the sentinel: order is kept, so a duplicate of the first would
    // arrive before it.
    let first = stack.start_booking(train, "Ann").await;
    let second = stack.start_booking(train, "Bob").await;
    for socket in [&mut a, &mut b, &mut c] {
        let seen = until_confirmed(socket, second).await;
        let firsts = seen
            .iter()
            .filter(|m| m["type"] == "booking_confirmed" && m["booking_id"] == first)
            .count();
        assert_eq!(firsts, 1, "{seen:?}");
        // Nobody gets their own chat line back.
        assert!(seen.iter().all(|m| m["type"] != "chat"), "{seen:?}");
    }
}

#[tokio::test]
async fn a_member_reconnecting_with_its_last_position_gets_what_it_missed() {
    let stack = Stack::start(1, |_| {}).await;
    let train = stack.train(10).await;
    let other = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (mut socket, _) = member(&stack, 0, lobby).await;
    let seen = stack.start_booking(train, "Ann").await;
    let last = next_of(&mut socket, "booking_confirmed").await;
    assert_eq!(last["booking_id"], seen);
    drop(socket);

    let missed = stack.start_booking(train, "Bob").await;
    // Bookings on another train are not this lobby's business.
    stack.start_booking(other, "Bob").await;
    let position = last["position"].as_str().expect("a position");
    let mut socket = stack
        .gateway()
        .ws(&format!("/lobbies/ws/{lobby}?after={position}"))
        .await;
    assert_eq!(next_json(&mut socket).await["type"], "welcome");
    let replayed = next_json(&mut socket).await;
    assert_eq!(
        (replayed["type"].clone(), replayed["booking_id"].clone()),
        (json!("booking_confirmed"), json!(missed))
    );
    assert_eq!(replayed["seats_left"], 8);
    // Live events follow, without repeating the replayed one.
    let live = stack.start_booking(train, "Cid").await;
    let rest = until_confirmed(&mut socket, live).await;
    assert_eq!(rest.len(), 1, "{rest:?}");
}

#[tokio::test]
async fn an_unknown_lobby_is_closed_with_1008() {
    let stack = Stack::start(1, |_| {}).await;
    let mut socket = stack.gateway().ws("/lobbies/ws/999").await;
    assert_eq!(close_code(&mut socket).await, 1008);
    let mut socket = stack.gateway().ws("/ls/lobbies/ws/not-a-number").await;
    assert_eq!(close_code(&mut socket).await, 1008);
}

#[tokio::test]
async fn an_oversized_message_is_refused_with_1009() {
    let stack = Stack::start(1, |settings| settings.ws_max_message_bytes = 1024).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (mut socket, _) = member(&stack, 0, lobby).await;
    say(&mut socket, &"x".repeat(4096)).await;
    assert_eq!(close_code(&mut socket).await, 1009);
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_with_1013() {
    let stack = Stack::start(1, |settings| settings.max_websockets = 1).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (_first, _) = member(&stack, 0, lobby).await;
    let mut second = stack.gateway().ws(&format!("/lobbies/ws/{lobby}")).await;
    assert_eq!(close_code(&mut second).await, 1013);
}

#[tokio::test]
async fn shutting_down_closes_every_socket_with_a_close_frame() {
    let mut stack = Stack::start(1, |_| {}).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let (mut socket, _) = member(&stack, 0, lobby).await;
    let mut gateway = stack.gateways.remove(0);
    let stopping = tokio::spawn(async move { gateway.stop().await });
    assert_eq!(close_code(&mut socket).await, 1001);
    drop(socket);
    stopping.await.expect("the gateway stops");
}

#[tokio::test]
async fn five_hundred_members_each_receive_one_booking_exactly_once() {
    // Every member comes from the test's one address.
    let stack = Stack::start(1, |settings| settings.ws_per_client = 500).await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let mut sockets = Vec::with_capacity(500);
    for _ in 0..500 {
        sockets.push(member(&stack, 0, lobby).await.0);
    }
    let state = stack.gateway().state.clone().expect("gateway state");
    eventually(|| {
        let state = state.clone();
        async move { state.members() == 500 }
    })
    .await;
    let booking = stack.start_booking(train, "Ann").await;
    let sentinel = stack.start_booking(train, "Bob").await;
    for socket in &mut sockets {
        let seen = until_confirmed(socket, sentinel).await;
        let ours: Vec<_> = seen.iter().filter(|m| m["booking_id"] == booking).collect();
        assert_eq!(ours.len(), 1, "{seen:?}");
        assert_eq!(ours[0]["seats_left"], 9);
    }
}

#[tokio::test]
async fn members_see_seats_held_and_freed_by_release_and_by_time_with_no_one_named() {
    use crate::auth::{admin, lobby, send, train, traveller};
    let mut stack = Stack::start_with_api(
        1,
        |api| {
            api.auth = auth::AuthMode::Required;
            // Long enough to release a hold by hand first, short enough to wait for.
            api.hold_ttl_secs = 5;
            api.hold_expiry_poll_ms = 100;
        },
        |_| {},
    )
    .await;
    let admin = admin(&mut stack).await;
    let ann = traveller(&stack, "ann").await;
    let train = train(&stack, &admin).await;
    let lobby = lobby(&stack, "", &admin, train).await;
    let (mut socket, _) = member(&stack, 0, lobby).await;
    let hold = |seats: serde_json::Value| {
        let url = stack.gateway().url(&format!("/ts/trains/{train}/holds"));
        let request = stack.client.post(url).json(&json!({ "seats": seats }));
        send(&stack, request, Some(&ann))
    };

    let held = hold(json!(["1-4"])).await;
    assert_eq!(held.status, 201, "{}", held.body);
    let message = next_of(&mut socket, "seats_held").await;
    assert_eq!(
        (message["train_id"].clone(), message["seats"].clone()),
        (json!(train), json!(["1-4"]))
    );
    assert!(message["position"].is_string(), "{message}");
    // Nobody is named: no account id, no hold id to trace it by.
    assert_eq!(
        message.as_object().map(serde_json::Map::len),
        Some(4),
        "type, train_id, seats and position only: {message}"
    );
    let hold_id = held.body["hold_id"].as_str().expect("a hold id").to_owned();
    let url = stack.gateway().url(&format!("/ts/holds/{hold_id}"));
    let released = send(&stack, stack.client.delete(url), Some(&ann)).await;
    assert_eq!(released.status, 200, "{}", released.body);
    let message = next_of(&mut socket, "seats_released").await;
    assert_eq!(
        (message["seats"].clone(), message["reason"].clone()),
        (json!(["1-4"]), json!("released"))
    );

    assert_eq!(hold(json!(["1-2", "1-3"])).await.status, 201);
    next_of(&mut socket, "seats_held").await;
    // No request touches the train again: the expiry timer frees the seats.
    let expired = next_of(&mut socket, "seats_released").await;
    assert_eq!(
        (expired["seats"].clone(), expired["reason"].clone()),
        (json!(["1-2", "1-3"]), json!("expired"))
    );

    let url = stack.gateway().url("/ts/bookings");
    let body = json!({"train_id": train, "user_credentials": "Desk"});
    let request = stack.client.post(url).json(&body);
    assert_eq!(send(&stack, request, Some(&admin)).await.status, 200);
    let confirmed = next_of(&mut socket, "booking_confirmed").await;
    assert_eq!(confirmed["seat"], "1-1", "{confirmed}");
}
