//! The projector: follows the event log and keeps the PostgreSQL read models that every GET
//! path reads. One reader per process feeds every projection it leads; each projection's
//! checkpoint commits in the same transaction as its rows, so a crash never loses or doubles
//! an update.

mod bookings;
pub mod feed;
mod holds;
mod lobbies;
mod orders;
mod projection;
mod replay;
mod runner;
mod search;
mod sorted;
mod trains;
mod users;

pub use projection::{Projection, followers};
pub use replay::{Difference, RebuildReport, Verification, rebuild, verify};
pub use sorted::retry;

/// The schema of the live read models.
pub const LIVE_SCHEMA: &str = "read_models";

use domain::DomainEvent;
use event_store::{EventStore, Position, RecordedEvent};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// This crate's migrations. Several crates migrate the same database with version numbers
/// that never collide, so each ignores the others' entries in the shared history.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Settings of the projector role.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "projector-settings")]
#[command(next_help_heading = "Projector")]
pub struct Settings {
    /// Most events applied in one transaction.
    #[arg(long = "projector-batch-size", env = "PROJECTOR_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,

    /// How often a standby instance tries to take over a projection, in milliseconds.
    #[arg(
        long = "projector-standby-poll-ms",
        env = "PROJECTOR_STANDBY_POLL_MS",
        default_value_t = 1000
    )]
    pub standby_poll_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            standby_poll_ms: 1000,
        }
    }
}

/// Creates or upgrades the read-model schema.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}

/// Why a projection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("event store")]
    Store(#[from] event_store::StoreError),
    #[error("read-model database")]
    Database(#[from] sqlx::Error),
    #[error("event {position} ({event_type}) cannot be decoded")]
    Decode {
        position: Position,
        event_type: String,
        #[source]
        source: domain::DecodeError,
    },
    #[error("checkpoint")]
    Checkpoint(#[from] event_store::checkpoint::CheckpointError),
    #[error("the subscription ended")]
    SubscriptionEnded,
    #[error("another rebuild is running")]
    Busy,
}

/// Reads a recorded event into the domain, through the domain's codec.
pub(crate) fn decode(event: &RecordedEvent) -> Result<DomainEvent, ProjectorError> {
    decode_data(event, event.data.clone())
}

fn decode_data(
    event: &RecordedEvent,
    data: serde_json::Value,
) -> Result<DomainEvent, ProjectorError> {
    domain::decode(&event.event_type, &event.metadata, data).map_err(|source| {
        ProjectorError::Decode {
            position: event.position,
            event_type: event.event_type.clone(),
            source,
        }
    })
}

/// Runs every projection until `shutdown`: this process leads those no other instance leads
/// and stands by for the rest, with one reader of the log for all it leads.
pub async fn run<S: EventStore>(
    store: S,
    pool: PgPool,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let runner = runner::Runner {
        store,
        pool,
        batch_size: usize::from(settings.batch_size),
        standby_poll: Duration::from_millis(settings.standby_poll_ms),
    };
    runner.run(shutdown).await;
}
