//! The projector: follows the event log and keeps the PostgreSQL read models that every GET
//! path reads. Each projection runs on its own, with its own checkpoint committed in the same
//! transaction as its rows, so a crash never loses or doubles an update.

mod bookings;
pub mod checkpoint;
pub mod feed;
mod lobbies;
mod replay;
mod runner;
mod trains;

pub use checkpoint::{CHECKPOINT_CHANNEL, Checkpoints};
pub use replay::{Difference, RebuildReport, rebuild, verify};

/// The schema of the live read models.
pub const LIVE_SCHEMA: &str = "read_models";

use domain::{DomainEvent, LobbyId, TrainId};
use event_store::{EventStore, Filter, NewEvent, Position, RecordedEvent};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// One read model and how it follows the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Projection {
    /// `trains`: the schedule and seats left.
    Trains,
    /// `bookings`: active bookings.
    Bookings,
    /// `lobbies`: open lobbies.
    Lobbies,
}

impl Projection {
    pub const ALL: [Projection; 3] = [Self::Trains, Self::Bookings, Self::Lobbies];

    pub fn name(self) -> &'static str {
        match self {
            Self::Trains => "trains",
            Self::Bookings => "bookings",
            Self::Lobbies => "lobbies",
        }
    }

    /// The streams this projection reads.
    pub fn filter(self) -> Filter {
        match self {
            Self::Trains | Self::Bookings => Filter::prefixes([TrainId::STREAM_PREFIX]),
            // A removed train closes its lobby.
            Self::Lobbies => Filter::prefixes([TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX]),
        }
    }

    /// The projections that must have passed an event of `stream` before a read reflects it.
    pub fn following(stream: &str) -> Vec<Projection> {
        Self::ALL
            .into_iter()
            .filter(|p| p.filter().matches(stream))
            .collect()
    }

    /// The tables this projection owns, all in one schema.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Trains => &["trains"],
            Self::Bookings => &["bookings"],
            Self::Lobbies => &["lobbies"],
        }
    }

    /// Parses a projection's name.
    pub fn named(name: &str) -> Option<Projection> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Applies a batch to this projection's tables in `schema` (the live `read_models`, or a
    /// copy being rebuilt or verified). `fresh`: a replay filling empty tables, each event
    /// applied exactly once, which allows bulk loading.
    async fn apply(
        self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[&DomainEvent],
        fresh: bool,
    ) -> Result<(), sqlx::Error> {
        match self {
            Self::Trains => trains::apply(tx, schema, events, fresh).await,
            Self::Bookings => bookings::apply(tx, schema, events, fresh).await,
            Self::Lobbies => lobbies::apply(tx, schema, events, fresh).await,
        }
    }
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
    #[error("another instance moved the checkpoint of {0}; standing down")]
    Fenced(String),
    #[error("the subscription ended")]
    SubscriptionEnded,
    #[error("another rebuild is running")]
    Busy,
}

/// A domain event in the log's format, with a fresh UUID v7 and its schema version: what
/// [`decode`] reads back. The one encoder of every writer.
pub fn encode(event: &DomainEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.encode())
        .with_metadata(serde_json::json!({ "schema_version": event.schema_version() }))
}

/// Reads a recorded event into the domain, upcasting older schema versions.
pub fn decode(event: &RecordedEvent) -> Result<DomainEvent, ProjectorError> {
    decode_data(event, event.data.clone())
}

/// Like [`decode`], taking the event apart instead of copying its data.
pub fn decode_owned(
    mut event: RecordedEvent,
) -> Result<(RecordedEvent, DomainEvent), ProjectorError> {
    let data = std::mem::take(&mut event.data);
    let decoded = decode_data(&event, data)?;
    Ok((event, decoded))
}

fn decode_data(
    event: &RecordedEvent,
    data: serde_json::Value,
) -> Result<DomainEvent, ProjectorError> {
    let version = event
        .metadata
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        // Events written before versions were recorded are the first version.
        .unwrap_or(1);
    DomainEvent::decode(&event.event_type, version, data).map_err(|source| ProjectorError::Decode {
        position: event.position,
        event_type: event.event_type.clone(),
        source,
    })
}

/// Runs every projection until `shutdown`: each one elects itself active or stands by.
pub async fn run<S: EventStore>(
    store: S,
    pool: PgPool,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    for projection in Projection::ALL {
        let runner = runner::Runner {
            projection,
            store: store.clone(),
            pool: pool.clone(),
            batch_size: usize::from(settings.batch_size),
            standby_poll: Duration::from_millis(settings.standby_poll_ms),
        };
        tracker.spawn(runner.run(shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
}
