//! What the event store benchmarks share: the event body and the adapter append loop.

use event_store::{EventStore, NewEvent};
use std::time::Duration;

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

/// `writers` concurrent writers appending booking events one at a time, for `window`:
/// events per second, and how many were written.
pub async fn adapter_appends<S: EventStore>(
    store: &S,
    writers: usize,
    window: Duration,
) -> (f64, usize) {
    event_store::testing::append_rate(store, writers, window, |n| {
        NewEvent::new("SeatBooked", body(n))
    })
    .await
}
