//! The warehouse feed: a runner like the read-model projections, but its output is RabbitMQ.
//!
//! Every event of the log is published, in position order, on a durable exchange with
//! publisher confirms, many events to a persistent message (the contract is in `message`):
//! the feed waits up to `FEED_LINGER_MS` after a batch's first event for more, so a broker
//! message carries many bookings instead of one. The feed's checkpoint (row `warehouse-feed`
//! in `projections.checkpoints`) moves only after the broker has confirmed the batch's
//! message, so a crash or a lost broker connection can repeat events (the etl ignores
//! repeats by event id) but never lose one. While the broker is down this runner retries with
//! backoff; the read-model projections are separate runners and do not wait for it.
//!
//! Kept apart from `runner.rs` because its sink is not a database transaction: the checkpoint
//! cannot commit atomically with the output, so it moves after it instead. Its parts: where
//! it lives on the broker (`amqp`), what it sends (`message`) and the runner (`publisher`).

mod amqp;
mod message;
mod publisher;

pub use amqp::Amqp;
pub use message::{FeedMessage, Unreadable, body, properties, read_body};
pub use publisher::{retry, run};

use crate::ProjectorError;
use uuid::Uuid;

/// Name of the feed's checkpoint row and of its leader lock.
pub const FEED_NAME: &str = "warehouse-feed";

/// Settings of the feed runner.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "feed-settings")]
#[command(next_help_heading = "Warehouse feed")]
pub struct Settings {
    /// Most events in one broker message; its confirm moves the checkpoint.
    #[arg(id = "feed-batch-size", long = "feed-batch-size", env = "FEED_BATCH_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,

    /// How long the feed waits after a batch's first event for more to join it, in
    /// milliseconds: the warehouse is that much later, and the broker carries one message
    /// where it would carry many. 0 publishes whatever has arrived at once.
    #[arg(
        id = "feed-linger-ms",
        long = "feed-linger-ms",
        env = "FEED_LINGER_MS",
        default_value_t = 250
    )]
    pub linger_ms: u64,

    /// How often a standby feed tries to take over, in milliseconds.
    #[arg(
        id = "feed-standby-poll-ms",
        long = "feed-standby-poll-ms",
        env = "FEED_STANDBY_POLL_MS",
        default_value_t = 1000
    )]
    pub standby_poll_ms: u64,

    /// Longest wait between reconnection attempts while the broker is down, in milliseconds.
    #[arg(
        id = "feed-max-backoff-ms",
        long = "feed-max-backoff-ms",
        env = "FEED_MAX_BACKOFF_MS",
        default_value_t = 5000
    )]
    pub max_backoff_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            linger_ms: 250,
            standby_poll_ms: 1000,
            max_backoff_ms: 5000,
        }
    }
}

/// Why the feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    #[error("broker")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused or returned event {0}")]
    NotConfirmed(Uuid),
}

impl From<sqlx::Error> for FeedError {
    fn from(e: sqlx::Error) -> Self {
        Self::Projector(e.into())
    }
}

impl From<event_store::StoreError> for FeedError {
    fn from(e: event_store::StoreError) -> Self {
        Self::Projector(e.into())
    }
}

impl From<event_store::checkpoint::CheckpointError> for FeedError {
    fn from(e: event_store::checkpoint::CheckpointError) -> Self {
        Self::Projector(e.into())
    }
}
