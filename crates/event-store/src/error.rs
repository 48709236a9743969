//! The store's one error type. It separates "someone wrote first" (a conflict the caller can
//! retry after re-reading) from "the database is unreachable" and from everything else.

use crate::ExpectedRevision;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote to the stream first; nothing was written.
    #[error("stream {stream} is at revision {actual:?}, expected {expected:?}")]
    WrongExpectedRevision {
        stream: String,
        expected: ExpectedRevision,
        actual: Option<u64>,
    },
    /// The event id is already stored, somewhere other than this exact append. Only the
    /// PostgreSQL adapter can tell: EventStoreDB recognises event ids within one stream.
    #[error("event {0} is already stored elsewhere")]
    DuplicateEventId(Uuid),
    /// The backend cannot be reached; the outcome of an append is unknown, and a retry with
    /// the same event ids is safe.
    #[error("event store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug or a broken backend.
    #[error("event store failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An append of no events: refused by every adapter, as it could not return a position.
    pub(crate) fn check_not_empty<T>(events: &[T]) -> Result<(), Self> {
        if events.is_empty() {
            return Err(Self::Backend("an append needs at least one event".into()));
        }
        Ok(())
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::WrongExpectedRevision { .. })
    }
}
