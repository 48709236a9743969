//! A gateway process is SIGKILLed while bookings stream into a lobby: its websocket members
//! reconnect to the other gateway with `?after=<the last position they saw>` and, between the
//! two connections, receive every booking of the train exactly once, in log order.

use crate::stack::{PATIENCE, Process, Stack, booking, eventually, free_address};
use event_store::testing::TestDatabase;
use event_store::{EventStore, Filter, PgEventStore};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_tungstenite::tungstenite::Message;

const MEMBERS: usize = 10;
const BOOKINGS: usize = 60;
/// Bookings every member has seen before the gateway dies.
const BEFORE_KILL: usize = 15;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one member was told.
#[derive(Default)]
struct Seen {
    bookings: Vec<i64>,
    /// The last log position in a message: where to resume.
    last: Option<String>,
}

/// Reads `socket` until it fails or closes, or every booking has arrived. `progress` counts
/// welcomes and bookings.
async fn read_until_gone(socket: &mut Socket, seen: &mut Seen, progress: &AtomicUsize) {
    while seen.bookings.len() < BOOKINGS {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time");
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            Some(Ok(_)) => continue,
        };
        let message: Value = serde_json::from_str(&text).expect("JSON");
        if let Some(position) = message["position"].as_str() {
            seen.last = Some(position.to_owned());
        }
        if message["type"] == "welcome" {
            progress.fetch_add(1, Ordering::Relaxed);
        }
        if message["type"] == "booking_confirmed" {
            seen.bookings
                .push(message["booking_id"].as_i64().expect("a booking id"));
            progress.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A member of `lobby` on `first` until that gateway dies, then on `second` from where it
/// was. Returns the bookings it was told about, in order, and how many came before the move.
async fn member(
    first: String,
    second: String,
    lobby: i64,
    progress: Arc<AtomicUsize>,
) -> (Vec<i64>, usize) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{first}/lobbies/ws/{lobby}"))
        .await
        .expect("connect to the first gateway");
    let mut seen = Seen::default();
    read_until_gone(&mut socket, &mut seen, &progress).await;
    let before = seen.bookings.len();
    if before < BOOKINGS {
        let after = seen
            .last
            .clone()
            .expect("a position, from the welcome at least");
        let url = format!("{second}/lobbies/ws/{lobby}?after={after}");
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("reconnect to the second gateway");
        read_until_gone(&mut socket, &mut seen, &progress).await;
    }
    (seen.bookings, before)
}

/// Books `count` seats on `train` through the command API, one after another.
async fn book(stack: &Stack, train: i64, from: usize, count: usize) {
    for n in from..from + count {
        let body = json!({ "train_id": train, "user_credentials": format!("user-{n}") });
        let (status, id) = stack
            .http
            .post(&format!("{}/bookings", stack.api), &body)
            .await;
        assert_eq!(status, 200, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_killed_gateway_resume_on_another_and_miss_nothing_twice() {
    let database = TestDatabase::create().await;
    let stack = Stack::all(booking(&database.url)).await;
    let doomed_address = free_address();
    let mut doomed = Process::spawn(
        booking(&database.url)
            .arg("lobby-gateway")
            .env("GATEWAY_LISTEN", doomed_address.to_string())
            .env("COMMAND_API_URLS", &stack.api),
    );
    let doomed_url = format!("http://{doomed_address}");
    doomed.serving(&stack.http, &doomed_url).await;

    let train = stack.train(1000).await;
    let (status, lobby) = stack
        .http
        .post(
            &format!("{}/lobbies", stack.gateway),
            &json!({ "train_id": train }),
        )
        .await;
    assert_eq!(status, 200, "{lobby}");
    let lobby = lobby.as_i64().expect("a lobby id");

    let progress = Arc::new(AtomicUsize::new(0));
    let ws = |http: &str| http.replacen("http://", "ws://", 1);
    let members: Vec<_> = (0..MEMBERS)
        .map(|_| {
            tokio::spawn(member(
                ws(&doomed_url),
                ws(&stack.gateway),
                lobby,
                progress.clone(),
            ))
        })
        .collect();
    eventually("every member's welcome", || async {
        progress.load(Ordering::Relaxed) >= MEMBERS
    })
    .await;
    // Part of the bookings while every member is on the doomed gateway; the rest while it
    // dies and after.
    book(&stack, train, 0, BEFORE_KILL).await;
    eventually("members to see the first bookings", || async {
        progress.load(Ordering::Relaxed) >= MEMBERS * (1 + BEFORE_KILL)
    })
    .await;
    let rest = book(&stack, train, BEFORE_KILL, BOOKINGS - BEFORE_KILL);
    tokio::join!(rest, async { doomed.kill() });

    let store = PgEventStore::new(database.pool(2).await)
        .await
        .expect("event store");
    let stream = domain::TrainId(train).stream();
    let in_log: Vec<i64> = store
        .read_all(None, &Filter::prefixes([stream.as_str()]), 10_000)
        .await
        .expect("read the log")
        .iter()
        .filter_map(|event| {
            match domain::decode(&event.event_type, &event.metadata, event.data.clone())
                .expect("a known event")
            {
                domain::DomainEvent::Train(domain::TrainEvent::SeatBooked {
                    booking_id, ..
                }) => Some(booking_id.0),
                _ => None,
            }
        })
        .collect();
    assert_eq!(in_log.len(), BOOKINGS);
    for member in members {
        let (seen, before) = member.await.expect("a member finished");
        assert!(before < BOOKINGS, "the member moved gateways mid-stream");
        assert_eq!(seen, in_log, "a member's bookings against the log");
    }
}
