//! The consumer side of a subscription, shared by every adapter: a bounded channel fed by the
//! adapter's reader task, so a slow consumer slows the reader instead of growing memory.

use crate::{RecordedEvent, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Which streams a reader wants: those whose name starts with one of the prefixes, or every
/// stream when there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    prefixes: Vec<String>,
}

impl Filter {
    pub fn all() -> Self {
        Self::default()
    }

    pub fn prefixes<I, S>(prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
        }
    }

    pub fn stream_prefixes(&self) -> &[String] {
        &self.prefixes
    }

    pub fn matches(&self, stream: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| stream.starts_with(p.as_str()))
    }
}

/// A live feed of the global log. Dropping it stops the reader task behind it.
pub struct Subscription {
    events: mpsc::Receiver<Result<RecordedEvent, StoreError>>,
    _stop: DropGuard,
}

impl Subscription {
    /// How many events an adapter may buffer ahead of its consumer.
    pub const BUFFER: usize = 2048;

    /// Pairs the receiving end of an adapter's channel with the token that stops its task.
    pub fn new(
        events: mpsc::Receiver<Result<RecordedEvent, StoreError>>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            events,
            _stop: stop.drop_guard(),
        }
    }

    /// The next event; `None` once the subscription has ended for good.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        self.events.recv().await
    }

    /// Waits for at least one event, then takes whatever else is already buffered, up to `max`.
    /// An empty batch means the subscription has ended.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut items = Vec::with_capacity(max.min(Self::BUFFER));
        self.events.recv_many(&mut items, max.max(1)).await;
        items.into_iter().collect()
    }
}
