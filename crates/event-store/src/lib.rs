//! The event store port: the one door through which the system writes and reads its log.
//!
//! Adapters (PostgreSQL, and EventStoreDB/KurrentDB in [`kurrent`]) must all keep the guarantees that the
//! conformance suite in [`conformance`] checks: optimistic appends that write all or nothing,
//! idempotent retries by event id, and a totally ordered global log that a subscriber reads
//! exactly once, in order, with no gaps, also while many writers append at once.

mod any;
pub mod checkpoint;
mod error;
pub mod kurrent;
mod position;
pub mod postgres;
pub mod quarantine;
mod subscription;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod testing;

pub use any::{AnyStore, Migrations};
pub use error::StoreError;
pub use kurrent::KurrentStore;
pub use position::{ParsePositionError, Position};
pub use postgres::PgEventStore;
pub use subscription::{Filter, Subscription};

use chrono::{DateTime, Utc};
use std::future::Future;
use uuid::Uuid;

/// What the writer believes the stream looks like; the append fails with
/// [`StoreError::WrongExpectedRevision`] otherwise and writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// No check at all.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist, at any revision.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(u64),
}

impl ExpectedRevision {
    /// The expectation that matches a stream read up to `last` (`None` if it was empty).
    pub fn after(last: Option<u64>) -> Self {
        last.map_or(Self::NoStream, Self::Exact)
    }
}

/// An event to append. The writer sets the id (UUID v7) so that a retried append is recognised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id and empty metadata.
    pub fn new(event_type: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            data,
            metadata: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An encoded event as `(type, data, metadata)`, as the domain's codec produces it.
impl<T: Into<String>> From<(T, serde_json::Value, serde_json::Value)> for NewEvent {
    fn from((event_type, data, metadata): (T, serde_json::Value, serde_json::Value)) -> Self {
        Self::new(event_type, data).with_metadata(metadata)
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    /// Zero-based index of the event within its stream.
    pub revision: u64,
    pub position: Position,
    pub event_type: String,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Revision of the last event written: the next append's expected revision.
    pub revision: u64,
    /// Global position of the last event written.
    pub position: Position,
}

/// The port. Static dispatch (`impl Future`) keeps it free of boxing; the binary picks an
/// adapter once at start-up.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if `expected` holds. Re-appending events whose
    /// ids are already stored at the same place returns the original result and writes nothing.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Every event of one stream, oldest first; empty if the stream does not exist.
    fn read_stream(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The events of one stream after revision `after`, oldest first: what a reader holding
    /// the stream up to `after` lacks. Empty if there are none, or no such stream.
    fn read_stream_after(
        &self,
        stream: &str,
        after: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events of the global log strictly after `after` (from the start if
    /// `None`), in position order. Includes every event committed before the call (read your
    /// writes), and only events that no later write can precede.
    fn read_all(
        &self,
        after: Option<Position>,
        filter: &Filter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// How many events the log holds after `after` (all if `None`), if the adapter can tell
    /// cheaply; used for progress and ETAs, never for correctness.
    fn count(
        &self,
        after: Option<Position>,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Catch-up then live subscription to the global log, strictly after `after`. Lost
    /// connections are retried inside; the subscription never skips or repeats an event.
    fn subscribe(&self, after: Option<Position>, filter: Filter) -> Subscription;
}
