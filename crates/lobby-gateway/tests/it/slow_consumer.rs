//! A lobby member that never reads its socket, while the others chat and book at full speed.
//! The server's buffers for it are bounded (its train's broadcast channel, one socket's write
//! buffer, the kernel's); once they are full it is dropped with 1013 instead of being queued
//! for, while every other member receives every line and event, in order. A member that never
//! reads even its close frame does not hold the server either: the gateway still shuts down.

use crate::support::{PATIENCE, Stack, member, next_of, say};
use futures_util::StreamExt;
use std::net::SocketAddr;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Lines the speaker sends; each carries [`PAD`] bytes, far more in all than every buffer
/// between the server and a member holds.
const LINES: usize = 1000;
const PAD: usize = 8 * 1024;
/// The train channel's capacity: how far a member may fall behind the broadcasts.
const BUFFER: u32 = 16;

/// A member whose socket takes in little: a small receive buffer, so that a member that does
/// not read fills up after a few lines rather than after megabytes of kernel memory.
async fn slow_member(address: SocketAddr, lobby: i64) -> WebSocketStream<TcpStream> {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    let stream = socket.connect(address).await.expect("connect");
    let url = format!("ws://{address}/lobbies/ws/{lobby}");
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket connects");
    let welcome = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("a welcome in time");
    assert!(
        matches!(welcome, Some(Ok(Message::Text(ref text))) if text.contains("welcome")),
        "{welcome:?}"
    );
    socket
}

/// How a slow member's socket ended once read: the chat lines it got (their numbers), and the
/// close frame, or the error that ended it when the server gave up before the frame got out.
async fn drain(socket: &mut WebSocketStream<TcpStream>) -> (Vec<usize>, String) {
    let mut lines = Vec::new();
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the slow member's socket ends in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] == "chat" {
                    let text = value["text"].as_str().expect("a line");
                    lines.push(text[..5].parse().expect("a numbered line"));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let ended = frame.map_or_else(
                    || "close frame without a code".to_owned(),
                    |f| format!("close {} {:?}", u16::from(f.code), f.reason.as_str()),
                );
                return (lines, ended);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return (lines, format!("connection ended: {e}")),
            None => return (lines, "connection ended".to_owned()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_reads_is_dropped_while_the_others_get_every_event() {
    let mut stack = Stack::start(1, |settings| {
        // Chat within this instance: the test is about one gateway's buffers.
        settings.redis_url = None;
        settings.ws_buffer = BUFFER;
        settings.ws_send_timeout_ms = 1_000;
        settings.ws_max_message_bytes = 2 * PAD;
        settings.chat_limit = 10 * LINES as u32;
        settings.chat_window_ms = 600_000;
    })
    .await;
    let train = stack.train(10).await;
    let lobby = stack.lobby(train).await;
    let address = stack.gateways[0].address;
    // One slow member is read after the flood, to see where it was cut off; the other is never
    // read at all.
    let mut slow = slow_member(address, lobby).await;
    let _never_read = slow_member(address, lobby).await;
    let mut speaker = member(&stack, 0, lobby).await;
    let mut listeners = [
        member(&stack, 0, lobby).await,
        member(&stack, 0, lobby).await,
    ];

    let pad = "x".repeat(PAD);
    for line in 0..LINES {
        say(&mut speaker, &format!("{line:05} {pad}")).await;
        for listener in &mut listeners {
            let chat = next_of(listener, "chat").await;
            let text = chat["text"].as_str().expect("a line");
            assert_eq!(&text[..5], format!("{line:05}"), "every line, in order");
        }
    }
    let booking = stack.start_booking(train, "Ann").await;
    for listener in &mut listeners {
        let confirmed = next_of(listener, "booking_confirmed").await;
        assert_eq!(confirmed["booking_id"], booking);
    }

    let (got, ended) = drain(&mut slow).await;
    let contiguous = got.iter().enumerate().all(|(i, line)| i == *line);
    assert!(contiguous, "what a slow member gets has no gaps: {got:?}");
    assert!(
        got.len() < LINES,
        "the slow member was sent all {LINES} lines: nothing dropped it"
    );
    assert!(
        ended.contains("1013") || ended.starts_with("connection ended"),
        "dropped as too slow: {ended}"
    );

    // The member that never reads anything, not even its close frame, does not hold the
    // gateway: it stops within the deadline.
    tokio::time::timeout(PATIENCE, stack.gateways[0].stop())
        .await
        .expect("the gateway stops despite a member that never reads");
    println!(
        "slow consumer: dropped after {} of {LINES} lines ({} KiB of {} KiB), {ended}; \
         2 other members got all {LINES} lines and the booking",
        got.len(),
        got.len() * PAD / 1024,
        LINES * PAD / 1024,
    );
}
