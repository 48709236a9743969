//! `$all` subscriptions, supervised.
//!
//! The kurrentdb subscription is driven in a child task. When it ends badly (the connection
//! dropped, the server failed, or the client crate panicked, which the child's `JoinError`
//! reports) the supervisor logs it once and resubscribes from the last delivered position,
//! with backoff. The child skips anything at or below that position, so an event is never
//! delivered twice, whether the server starts a subscription inclusively or not; and since
//! the server delivers `$all` in order from there, none is skipped.

use super::{KurrentStore, classify, convert, from_position, is_server_stream, server_filter};
use crate::{Filter, Position, RecordedEvent, StoreError, Subscription};
use backon::{BackoffBuilder, ExponentialBuilder};
use kurrentdb::{StreamPosition, SubscribeToAllOptions};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Sender = mpsc::Sender<Result<RecordedEvent, StoreError>>;

pub(super) fn start(store: KurrentStore, after: Option<Position>, filter: Filter) -> Subscription {
    let (tx, rx) = mpsc::channel(Subscription::BUFFER);
    let stop = CancellationToken::new();
    tokio::spawn(supervise(store, after, filter, tx, stop.clone()));
    Subscription::new(rx, stop)
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_jitter()
        .build()
}

async fn supervise(
    store: KurrentStore,
    after: Option<Position>,
    filter: Filter,
    tx: Sender,
    stop: CancellationToken,
) {
    // The last position handed to the consumer (or skipped as not ours): shared with the
    // child so that it survives the child.
    let last = Arc::new(Mutex::new(after));
    let mut delays = backoff();
    loop {
        let from = *last.lock().unwrap_or_else(PoisonError::into_inner);
        let mut child = tokio::spawn(drive(
            store.clone(),
            filter.clone(),
            tx.clone(),
            last.clone(),
        ));
        let ended = tokio::select! {
            () = stop.cancelled() => {
                child.abort();
                return;
            }
            ended = &mut child => ended,
        };
        let reached = *last.lock().unwrap_or_else(PoisonError::into_inner);
        match ended {
            // The consumer is gone.
            Ok(Ok(())) => return,
            Ok(Err(e)) => tracing::warn!(
                error = %super::error_chain(&e),
                position = ?reached,
                "event store subscription dropped; resubscribing"
            ),
            Err(e) if e.is_panic() => tracing::error!(
                error = %e,
                position = ?reached,
                "event store subscription task panicked; resubscribing"
            ),
            Err(_) => return,
        }
        if reached != from {
            // It made progress: the trouble is new, start the backoff over.
            delays = backoff();
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tx.closed() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Reads one kurrentdb subscription from `last` until it fails or the consumer goes away
/// (`Ok`).
async fn drive(
    store: KurrentStore,
    filter: Filter,
    tx: Sender,
    last: Arc<Mutex<Option<Position>>>,
) -> Result<(), StoreError> {
    let from = *last.lock().unwrap_or_else(PoisonError::into_inner);
    let mut options = SubscribeToAllOptions::default().position(match from {
        Some(p) => StreamPosition::Position(super::to_position(p)),
        None => StreamPosition::Start,
    });
    if let Some(server_filter) = server_filter(&filter) {
        options = options.filter(server_filter);
    }
    let (client, generation) = store.client();
    let mut subscription = client.subscribe_to_all(&options).await;
    loop {
        let resolved = match subscription.next().await {
            Ok(resolved) => resolved,
            Err(e) => {
                store.recover(generation, &e);
                return Err(classify(e));
            }
        };
        let event = resolved.get_original_event();
        let position = from_position(event.position);
        {
            let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|l| position <= l) {
                continue;
            }
            *last = Some(position);
        }
        if is_server_stream(&filter, event.stream_id()) {
            continue;
        }
        let converted = convert(&resolved);
        let poisoned = converted.is_err();
        if tx.send(converted).await.is_err() {
            return Ok(());
        }
        if poisoned {
            // An event the system cannot read: reported once, then the feed ends rather
            // than silently passing over it.
            return Ok(());
        }
    }
}
