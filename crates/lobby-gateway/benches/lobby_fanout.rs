//! Lobby fan-out: how long a booking takes from its append to its arrival at every one of
//! 1,000 lobby members, and how much memory the gateway holds per open websocket.
//!
//! `cargo bench -p lobby-gateway --bench lobby_fanout` (needs the local PostgreSQL, on
//! `TEST_DATABASE_URL`). The stack (command API, projector, gateway) runs in a child process
//! so that its resident memory is measured without the clients'; this process holds the
//! 1,000 client sockets and appends the bookings itself, straight to the event store, taking
//! the time just before each append. Latency therefore includes the append's commit, the
//! log subscription, the fan-out and the client's own reading, on one machine.

use chrono::Utc;
use command_api::{Executor, ExecutorSettings};
use domain::{BookingId, Train, TrainCommand, TrainId};
use event_store::testing::TestDatabase;
use event_store::{AnyStore, PgEventStore};
use futures_util::StreamExt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const MEMBERS: usize = 1000;
const ROUNDS: usize = 30;
/// Set in the child: the database to serve.
const SERVE: &str = "LOBBY_FANOUT_SERVE_DATABASE";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match std::env::var(SERVE) {
        Ok(url) => runtime.block_on(serve(url)),
        // `cargo bench` passes `--bench`; nothing else is accepted.
        Err(_) => runtime.block_on(measure()),
    }
}

/// The child: the whole stack on ephemeral ports, until its stdin closes.
async fn serve(url: String) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await?;
    let store = AnyStore::from(PgEventStore::new(pool.clone()).await?);
    projector::migrate(&pool).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(projector::run(
        store.clone(),
        pool.clone(),
        projector::Settings::default(),
        shutdown.clone(),
    ));
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_address = api_listener.local_addr()?;
    let api = command_api::Settings::with_listen(api_address);
    let api =
        command_api::AppState::new(api, store.clone(), pool.clone(), shutdown.clone()).await?;
    tokio::spawn(command_api::run(api_listener, api, shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let mut settings = lobby_gateway::Settings::new(address, vec![format!("http://{api_address}")]);
    settings.rate_limit = 0;
    let gateway = lobby_gateway::AppState::new(settings, store, pool, shutdown.clone()).await?;
    tokio::spawn(lobby_gateway::run(listener, gateway, shutdown.clone()));
    println!("READY {address} {api_address}");
    // The parent closes our stdin when it is done (or dies).
    tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await?;
    shutdown.cancel();
    Ok(())
}

/// The parent: 1,000 members, `ROUNDS` bookings, the numbers.
async fn measure() -> anyhow::Result<()> {
    let database = TestDatabase::create().await;
    let mut child = Command::new(std::env::current_exe()?)
        .env(SERVE, &database.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let line =
        tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next().transpose())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the stack did not start"))?;
    let mut words = line.split_whitespace().skip(1);
    let (gateway, api) = (
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or_default().to_owned(),
    );

    let http = reqwest::Client::new();
    let train: i64 = http
        .post(format!("http://{api}/trains"))
        .json(&serde_json::json!({
            "route": "Chisinau-Bucuresti",
            "departure_time": "2024-09-25T06:30",
            "arrival_time": "2024-09-26T11:40",
            "available_seats": 5000,
        }))
        .send()
        .await?
        .json()
        .await?;
    let lobby: i64 = http
        .post(format!("http://{gateway}/lobbies"))
        .json(&serde_json::json!({ "train_id": train }))
        .send()
        .await?
        .json()
        .await?;

    // One member first, so the baseline includes everything a first connection allocates.
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let url = format!("ws://{gateway}/lobbies/ws/{lobby}");
    connect(&url, arrivals.clone()).await?;
    let before = resident_kib(child.id())?;
    for _ in 1..MEMBERS {
        connect(&url, arrivals.clone()).await?;
    }
    let after = resident_kib(child.id())?;

    let pool = database.pool(4).await;
    let store = AnyStore::from(PgEventStore::new(pool).await?);
    let trains = Executor::<Train>::new(store, ExecutorSettings::default());
    let mut latencies = Vec::with_capacity(ROUNDS * MEMBERS);
    for round in 0..ROUNDS {
        let booking = BookingId(1_000_000 + round as i64);
        let command = TrainCommand::BookSeat {
            booking_id: booking,
            user_credentials: format!("traveller {round}"),
            at: Utc::now(),
        };
        let appended = Instant::now();
        trains
            .execute(TrainId(train).stream(), command)
            .await
            .map_err(|e| anyhow::anyhow!("booking failed: {e}"))?;
        let mut count = 0;
        while count < MEMBERS {
            let (id, at) = tokio::time::timeout(Duration::from_secs(30), arrived.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("members gone"))?;
            if id == booking.0 {
                latencies.push(at.saturating_duration_since(appended));
                count += 1;
            }
        }
    }
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "append -> delivery to {MEMBERS} lobby members, {ROUNDS} bookings ({} deliveries): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        percentile(1.0).as_secs_f64() * 1e3,
    );
    println!(
        "gateway process memory: {} KiB resident with 1 member, {} KiB with {MEMBERS}: {:.1} KiB per open websocket",
        before,
        after,
        (after.saturating_sub(before)) as f64 / (MEMBERS - 1) as f64,
    );
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}

/// Opens one member; a task reports every booking it receives with the time it arrived.
async fn connect(url: &str, arrivals: mpsc::UnboundedSender<(i64, Instant)>) -> anyhow::Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    // The welcome: the member is in the lobby once it is here.
    socket
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no welcome"))??;
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let at = Instant::now();
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(id) = value["booking_id"].as_i64() {
                let _ = arrivals.send((id, at));
            }
        }
    });
    Ok(())
}

/// Resident memory of a process, from `/proc` (Linux).
fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}
