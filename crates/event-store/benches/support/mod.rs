//! What the event store benchmarks share: the event body and the adapter append loop.

use event_store::{EventStore, ExpectedRevision, NewEvent};
use std::time::{Duration, Instant};

/// Concurrent writers in the adapter figures.
pub const WRITERS: usize = 8;

/// How long each figure is measured: `BENCH_SECS`, 5 s by default.
pub fn window() -> Duration {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// A booking event of the usual size.
pub fn body(n: usize) -> serde_json::Value {
    serde_json::json!({ "type": "SeatBooked", "train_id": 1, "booking_id": n, "user_credentials": "Tom Ford", "seats_left": 99 })
}

/// `writers` concurrent writers, each appending one event at a time to its own stream with
/// an exact expected revision (the shape of a real command), for `window`: events per second,
/// and how many were written.
pub async fn adapter_appends<S: EventStore>(
    store: &S,
    writers: usize,
    window: Duration,
) -> (f64, usize) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                let stream = format!("train-{w}");
                while started.elapsed() < window {
                    let expected = if n == 0 {
                        ExpectedRevision::NoStream
                    } else {
                        ExpectedRevision::Exact(n as u64 - 1)
                    };
                    let event = NewEvent::new("SeatBooked", body(n));
                    store
                        .append(&stream, expected, vec![event])
                        .await
                        .expect("append");
                    n += 1;
                }
                n
            })
        })
        .collect();
    rate_and_total(tasks, started).await
}

/// Events per second over every task's count since `started`, and that count.
pub async fn rate_and_total(
    tasks: Vec<tokio::task::JoinHandle<usize>>,
    started: Instant,
) -> (f64, usize) {
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("bench task");
    }
    (total as f64 / started.elapsed().as_secs_f64(), total)
}
