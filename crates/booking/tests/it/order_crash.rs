//! SIGKILL the command API (its reactors, payment dispatcher and order timer) again and again
//! while travellers place, pay for and cancel orders, restart it on the same port each time,
//! let it all come to rest, then judge the whole log: each payment, ticket and refund counts
//! once, and every order ends in a state its events justify.
//!
//! The payment provider runs in the test's own process, so it keeps running, and retrying its
//! webhooks, while the service is dead, as a real one would. The projector runs as a process
//! of its own and is never killed: this test is about the order process, and the projector's
//! own crash test is `crash.rs`.

mod client;
mod oracle;
mod provider;
mod travellers;

use crate::crash::random_below;
use crate::stack::{Http, PATIENCE, Process, booking, free_address};
use event_store::testing::TestDatabase;
use event_store::{EventStore, Filter, PgEventStore, Position, RecordedEvent};
use oracle::Log;
use provider::{Moment, Provider};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How many times the command API is killed.
const KILLS: usize = 50;
/// Starts of the command API in a row that may fail before the test does. A start gives up
/// when it cannot get a database connection within 5 s (the machine may be running a whole
/// workspace's tests), and its process exits to be started again, as a supervisor would; a
/// start that fails for a reason of its own fails every time.
const STARTS: usize = 3;
/// `PAYMENT_WINDOW_SECS`: short, so that delayed payments land after `pay_by` and the timer
/// expires orders while the service is being killed.
const WINDOW_SECS: u64 = 5;
/// When each run of the command API ends, in turn: at a random moment, or as soon as the log
/// or the provider shows a step of some order, so that kills land inside the short windows
/// between steps (a reaction takes milliseconds) and not only while orders wait for their
/// travellers.
const STRIKES: [Strike; 10] = [
    Strike::Random,
    Strike::Provider(Moment::PaymentAsked),
    Strike::Logged("OrderPlaced"),
    Strike::Provider(Moment::PaymentSettled),
    Strike::Logged("OrderTicketsBooked"),
    Strike::Random,
    Strike::Logged("TicketsIssued"),
    Strike::Provider(Moment::RefundAsked),
    Strike::Logged("TicketsCancelled"),
    Strike::Provider(Moment::RefundSettled),
];
/// The steps of an order, in order: the pairs the kill table always shows.
const STEPS: [&str; 5] = [
    "OrderPlaced",
    "PaymentRequested",
    "PaymentSucceeded",
    "TicketsIssued",
    "OrderConfirmed",
];

/// `booking command-api` on `listen`, with accounts, payments through `provider`, and the
/// order timer ticking fast.
fn command_api(database_url: &str, listen: SocketAddr, provider: &str) -> Command {
    let mut command = booking(database_url);
    command
        .arg("command-api")
        .env("COMMAND_API_LISTEN", listen.to_string())
        // The machine may be busy (a whole workspace's tests, several services): a command
        // waits longer for the read models to show it than the default 5 s.
        .env("READ_YOUR_WRITES_TIMEOUT_MS", "15000")
        .env("AUTH", "required")
        .env(
            "AUTH_SECRET",
            "a secret of at least 32 bytes for the order crash test",
        )
        .env("ADMIN_EMAIL", travellers::ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", travellers::PASSWORD)
        .env("PAYMENT_WEBHOOK_SECRET", provider::SECRET)
        .env("PAYMENT_PROVIDER_URL", provider)
        .env("PAYMENT_WINDOW_SECS", WINDOW_SECS.to_string())
        .env("HOLD_WARNING_SECS", "1")
        .env("HOLD_TTL_SECS", "30")
        .env("HOLD_EXPIRY_POLL_MS", "100")
        .env("MAX_HOLDS_PER_USER_PER_TRAIN", "100");
    command
}

/// Up to `limit` events of the log after `after`. A read the server turns away (a busy
/// machine's PostgreSQL may be out of connections for a moment) is tried again, for a while.
async fn page(store: &PgEventStore, after: Option<Position>, limit: usize) -> Vec<RecordedEvent> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match store.read_all(after, &Filter::all(), limit).await {
            Ok(page) => return page,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "read the log: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The type of each event of the order and train streams as the log records it, for kills to
/// strike on: one subscription for the whole test, so that a kill never waits for a read.
fn watch(store: &PgEventStore) -> broadcast::Sender<String> {
    let (recorded, _) = broadcast::channel(4096);
    let mut events = store.subscribe(None, Filter::prefixes(["order-", "train-"]));
    let sender = recorded.clone();
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            let _ = sender.send(event.event_type);
        }
    });
    recorded
}

#[derive(Debug, Clone, Copy)]
enum Strike {
    /// 50 to 500 ms after it is ready.
    Random,
    /// As soon as the log records an event of this type.
    Logged(&'static str),
    /// As soon as the provider lives this moment: asked by the dispatcher (before it answers),
    /// or a webhook accepted.
    Provider(Moment),
}

/// Lets the command API live until `strike`, or a second and a half at most.
async fn life(strike: Strike, recorded: &broadcast::Sender<String>, provider: &Provider) {
    let most = Duration::from_millis(1500);
    match strike {
        Strike::Random => {
            tokio::time::sleep(Duration::from_millis(50 + random_below(450))).await;
        }
        Strike::Logged(event_type) => {
            let mut recorded = recorded.subscribe();
            let seen = async {
                loop {
                    match recorded.recv().await {
                        Ok(recorded) if recorded == event_type => return,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            };
            let _ = tokio::time::timeout(most, seen).await;
        }
        Strike::Provider(moment) => {
            let mut moments = provider.moments();
            let seen = async {
                while let Ok(lived) = moments.recv().await {
                    if lived == moment {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(most, seen).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_count_each_payment_ticket_and_refund_once_across_command_api_kills() {
    let database = TestDatabase::create().await;
    let store = PgEventStore::new(database.pool(4).await)
        .await
        .expect("store");
    let http = Http::new();
    let listen = free_address();
    let base = format!("http://{listen}");
    let provider = Provider::start(listen).await;

    let ops = free_address();
    let mut projector = Process::spawn(
        booking(&database.url)
            .args(["projector", "--ops-listen", &ops.to_string()])
            .env("DATABASE_MAX_CONNECTIONS", "4"),
    );
    projector.serving(&http, &format!("http://{ops}")).await;
    let mut failed_starts = Vec::new();
    let mut start = async || {
        for _ in 0..STARTS {
            let mut api = Process::spawn(&mut command_api(&database.url, listen, &provider.url));
            match api.ready(&http, &base).await {
                Ok(()) => return api,
                Err(died) => failed_starts.push(died),
            }
        }
        panic!(
            "the command API did not start:\n{}",
            failed_starts.join("\n")
        );
    };
    let mut api = start().await;

    let world = travellers::World::set_up(&base, WINDOW_SECS).await;
    let over = CancellationToken::new();
    let workload = tokio::spawn(world.play(over.clone()));
    let recorded = watch(&store);
    let mut kills = Vec::new();
    let mut restarts = Vec::new();
    for run in 0..KILLS {
        life(STRIKES[run % STRIKES.len()], &recorded, &provider).await;
        api.kill();
        // Every event the dead process recorded was begun before now, and the log stamps an
        // event with the start of its transaction: the kill's place in the log, without a read.
        kills.push(chrono::Utc::now());
        let restarted = tokio::time::Instant::now();
        api = start().await;
        restarts.push(restarted.elapsed());
    }
    over.cancel();
    let played = tokio::time::timeout(PATIENCE, workload)
        .await
        .expect("the travellers finish")
        .expect("no traveller failed");

    // At rest: every order final, every outcome in, every ticket where its order says. A
    // violation stops the wait at once: nothing undoes it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (log, seen, moving, wrong) = loop {
        let log = Log::read(&store).await;
        let seen = provider.seen();
        let (moving, wrong) = (log.unsettled(&seen), log.violations(&seen));
        if moving.is_empty() || !wrong.is_empty() || tokio::time::Instant::now() > deadline {
            break (log, seen, moving, wrong);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    api.kill();
    projector.kill();

    println!("{}", log.figures(&seen));
    println!(
        "kills: {}, restarts: {} (ready again after {:?} at most), starts that failed: {}",
        kills.len(),
        restarts.len(),
        restarts.iter().max().copied().unwrap_or_default(),
        failed_starts.len()
    );
    for died in &failed_starts {
        println!("a start that failed: {died}");
    }
    println!("workload: {played:?}");
    println!(
        "kills between consecutive steps of an order:\n{}",
        kill_table(log.kill_table(&kills, false))
    );
    println!(
        "the same, with the trains' answers as steps:\n{}",
        kill_table(log.kill_table(&kills, true))
    );
    assert!(wrong.is_empty(), "the oracle found:\n{}", wrong.join("\n"));
    assert!(
        moving.is_empty(),
        "the order process did not come to rest:\n{}",
        moving.join("\n")
    );
}

/// A kill table as lines: the order process's own steps first, zeros included, then every
/// other pair some kill fell between.
fn kill_table(mut table: BTreeMap<(String, String), usize>) -> String {
    let mut lines = Vec::new();
    for pair in STEPS.windows(2) {
        let key = (pair[0].to_owned(), pair[1].to_owned());
        let n = table.remove(&key).unwrap_or_default();
        lines.push(format!("  {:>3}  {} -> {}", n, key.0, key.1));
    }
    for ((from, to), n) in table {
        lines.push(format!("  {n:>3}  {from} -> {to}"));
    }
    lines.join("\n")
}
