//! A websocket client's bounds: sockets per client, chat per member, and members that stop
//! answering are dropped.

use crate::support::{PATIENCE, Stack, close_code, close_frame, next_json, next_of, say};
use futures_util::StreamExt;
use std::time::Duration;

/// A stack whose lobby `settings` adjust, and a lobby on a train of it.
async fn lobby_with(adjust: impl Fn(&mut lobby_gateway::Settings)) -> (Stack, i64) {
    let stack = Stack::start(1, adjust).await;
    let train = stack.train(5).await;
    let lobby = stack.lobby(train).await;
    (stack, lobby)
}

#[tokio::test]
async fn one_client_gets_its_share_of_sockets_and_no_more() {
    let (stack, lobby) = lobby_with(|settings| settings.ws_per_client = 2).await;
    let path = format!("/lobbies/ws/{lobby}");
    let mut first = stack.gateway().ws(&path).await;
    let mut second = stack.gateway().ws(&path).await;
    for member in [&mut first, &mut second] {
        assert_eq!(next_json(member).await["type"], "welcome");
    }
    let mut third = stack.gateway().ws(&path).await;
    assert_eq!(close_code(&mut third).await, 1013);
    // A place comes back when a socket closes.
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = stack.gateway().ws(&path).await;
        let message = tokio::time::timeout(PATIENCE, again.next())
            .await
            .expect("an answer in time");
        if let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = message {
            assert!(text.contains("welcome"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed socket's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_member_chatting_over_its_limit_is_told_and_not_heard() {
    let (stack, lobby) = lobby_with(|settings| {
        settings.chat_limit = 2;
        settings.chat_window_ms = 600_000;
    })
    .await;
    let path = format!("/lobbies/ws/{lobby}");
    let (mut talker, mut listener) = (
        stack.gateway().ws(&path).await,
        stack.gateway().ws(&path).await,
    );
    assert_eq!(next_json(&mut talker).await["type"], "welcome");
    assert_eq!(next_json(&mut listener).await["type"], "welcome");
    for line in ["one", "two", "three"] {
        say(&mut talker, line).await;
    }
    let refused = next_of(&mut talker, "error").await;
    assert_eq!(
        refused,
        serde_json::json!({"type": "error", "detail": "Chat rate limit"})
    );
    assert_eq!(next_of(&mut listener, "chat").await["text"], "one");
    assert_eq!(next_of(&mut listener, "chat").await["text"], "two");
    // "three" never comes: the next chat the listener sees is from another member.
    let mut other = stack.gateway().ws(&path).await;
    assert_eq!(next_json(&mut other).await["type"], "welcome");
    say(&mut other, "four").await;
    assert_eq!(next_of(&mut listener, "chat").await["text"], "four");
}

#[tokio::test]
async fn a_member_that_stops_answering_pings_is_closed_and_one_that_answers_stays() {
    let (stack, lobby) = lobby_with(|settings| {
        settings.ws_ping_ms = 100;
        settings.ws_idle_ms = 300;
    })
    .await;
    let path = format!("/lobbies/ws/{lobby}");
    let mut silent = stack.gateway().ws(&path).await;
    let mut alive = stack.gateway().ws(&path).await;
    assert_eq!(next_json(&mut alive).await["type"], "welcome");
    // Reading is what answers pings; `alive` reads throughout, `silent` not at all.
    let reading = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(until, alive.next()).await {}
        alive
    });
    let mut alive = reading.await.expect("the reader");
    assert_eq!(close_code(&mut silent).await, 1001);
    let mut other = stack.gateway().ws(&path).await;
    assert_eq!(next_json(&mut other).await["type"], "welcome");
    say(&mut other, "still there?").await;
    assert_eq!(next_of(&mut alive, "chat").await["text"], "still there?");
}

#[tokio::test]
async fn a_member_further_behind_than_a_replay_may_go_is_told_to_resync() {
    let (stack, lobby) = lobby_with(|settings| settings.ws_replay_max = 2).await;
    let train = {
        let (_, shown) = stack
            .get(stack.gateway().url(&format!("/lobbies/{lobby}")))
            .await;
        shown["train_id"].as_i64().expect("the lobby's train")
    };
    let path = format!("/lobbies/ws/{lobby}");
    let mut member = stack.gateway().ws(&path).await;
    let welcome = next_json(&mut member).await;
    let seen = welcome["position"].as_str().expect("a position").to_owned();
    drop(member);
    // Two bookings can be replayed; three cannot.
    stack.start_booking(train, "Ann").await;
    stack.start_booking(train, "Bob").await;
    let mut back = stack.gateway().ws(&format!("{path}?after={seen}")).await;
    assert_eq!(next_json(&mut back).await["type"], "welcome");
    assert_eq!(
        next_of(&mut back, "booking_confirmed").await["seats_left"],
        4
    );
    assert_eq!(
        next_of(&mut back, "booking_confirmed").await["seats_left"],
        3
    );
    drop(back);
    stack.start_booking(train, "Cid").await;
    let mut behind = stack.gateway().ws(&format!("{path}?after={seen}")).await;
    let (code, reason) = close_frame(&mut behind).await;
    assert_eq!((code, reason.as_str()), (1008, "resync"));
}
