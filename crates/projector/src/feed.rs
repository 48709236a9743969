//! The warehouse feed: a runner like the read-model projections, but its output is RabbitMQ.
//!
//! Every event of the log is published, in position order, as a persistent message on a
//! durable exchange, with publisher confirms. The message id is the event id and the header
//! `position` carries `commit.prepare`. The feed's checkpoint (row `warehouse-feed` in
//! `projections.checkpoints`) moves only after the broker has confirmed every message of a
//! batch, so a crash or a lost broker connection can repeat messages (the etl ignores
//! repeats by event id) but never lose one. While the broker is down this runner retries with
//! backoff; the read-model projections are separate runners and do not wait for it.
//!
//! Kept apart from `runner.rs` because its sink is not a database transaction: the checkpoint
//! cannot commit atomically with the output, so it moves after it instead.

use crate::{ProjectorError, decode};
use chrono::{DateTime, Utc};
use domain::{LobbyId, TrainId};
use event_store::{EventStore, Filter, Position, RecordedEvent};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use sqlx::{Connection as _, PgPool};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Name of the feed's checkpoint row and of its leader lock.
pub const FEED_NAME: &str = "warehouse-feed";

/// Where the feed lives. Shared by the publisher (the feed) and the consumer (the etl), which
/// both declare the topology, so whichever starts first creates it. No `Debug`: the URL may
/// hold a password.
#[derive(Clone, clap::Args)]
#[group(id = "amqp-settings")]
#[command(next_help_heading = "RabbitMQ")]
pub struct Amqp {
    /// RabbitMQ URL of the warehouse feed.
    #[arg(
        id = "amqp-url",
        long = "amqp-url",
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,

    /// Prefix of the feed's names: exchange `<prefix>.events`, queue `<prefix>.etl`.
    #[arg(
        id = "amqp-prefix",
        long = "amqp-prefix",
        env = "AMQP_PREFIX",
        default_value = "warehouse"
    )]
    pub prefix: String,
}

impl Amqp {
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
        }
    }

    /// The durable fanout exchange the feed publishes to.
    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// The durable queue the etl consumes.
    pub fn queue(&self) -> String {
        format!("{}.etl", self.prefix)
    }

    pub async fn connect(&self) -> Result<Connection, lapin::Error> {
        Connection::connect(&self.url, ConnectionProperties::default()).await
    }

    /// Deletes the exchange, and the queue with whatever it still holds: for tests and
    /// benchmarks that made names of their own.
    pub async fn delete(&self) -> Result<(), lapin::Error> {
        let connection = self.connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .queue_delete(self.queue().into(), Default::default())
            .await?;
        channel
            .exchange_delete(self.exchange().into(), Default::default())
            .await?;
        connection.close(200, "deleted".into()).await
    }

    /// Declares the exchange, the queue and their binding, all durable. Declaring is
    /// idempotent; the publisher declares the queue too, so nothing published before the
    /// etl's first start is dropped as unroutable.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                self.queue().into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                self.queue().into(),
                self.exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}

/// Settings of the feed runner.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "feed-settings")]
#[command(next_help_heading = "Warehouse feed")]
pub struct Settings {
    /// Most events published before waiting for the broker's confirms and moving the checkpoint.
    #[arg(id = "feed-batch-size", long = "feed-batch-size", env = "FEED_BATCH_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,

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
            standby_poll_ms: 1000,
            max_backoff_ms: 5000,
        }
    }
}

/// One event as the warehouse sees it: everything analysts need, so the etl never reads the
/// event store. `data` is the current schema version (older versions are upcast here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedMessage {
    pub id: Uuid,
    pub stream: String,
    pub revision: u64,
    #[serde(with = "position_text")]
    pub position: Position,
    pub event_type: String,
    /// The schema version `data` is in: the current one when published, so a consumer
    /// running newer code upcasts it like any stored event.
    #[serde(default = "first_version")]
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

fn first_version() -> u32 {
    1
}

impl FeedMessage {
    /// The message for a recorded event, upcast to the current schema.
    pub fn from_recorded(event: &RecordedEvent) -> Result<Self, ProjectorError> {
        let decoded = decode(event)?;
        Ok(Self {
            id: event.id,
            stream: event.stream.clone(),
            revision: event.revision,
            position: event.position,
            event_type: decoded.event_type().to_owned(),
            schema_version: decoded.schema_version(),
            data: decoded.encode(),
            recorded_at: event.recorded_at,
        })
    }

    /// Message properties: persistent, id = event id, `position` header, JSON body.
    pub fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "position".into(),
            AMQPValue::LongString(self.position.to_string().into()),
        );
        BasicProperties::default()
            .with_message_id(ShortString::from(self.id.to_string()))
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_type(ShortString::from(self.event_type.clone()))
            .with_timestamp(u64::try_from(self.recorded_at.timestamp()).unwrap_or_default())
            .with_headers(headers)
    }

    /// The streams the feed carries.
    pub fn filter() -> Filter {
        Filter::prefixes([TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX])
    }
}

/// Positions travel as `commit.prepare` text, like the header.
mod position_text {
    use event_store::Position;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(position: &Position, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(position)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
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

/// Publishes the log to RabbitMQ until `shutdown`. One instance is active (advisory lock
/// `projection:warehouse-feed`); others stand by.
pub async fn run<S: EventStore>(
    store: S,
    pool: PgPool,
    amqp: Amqp,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let feed = Feed {
        store,
        pool,
        amqp,
        settings,
    };
    feed.supervise(shutdown).await;
}

struct Feed<S> {
    store: S,
    pool: PgPool,
    amqp: Amqp,
    settings: Settings,
}

enum Standby {
    Yes,
}

impl<S: EventStore> Feed<S> {
    #[tracing::instrument(skip_all, fields(projection = FEED_NAME))]
    async fn supervise(self, shutdown: CancellationToken) {
        let max_backoff = Duration::from_millis(self.settings.max_backoff_ms.max(1));
        let mut backoff = Duration::from_millis(100).min(max_backoff);
        while !shutdown.is_cancelled() {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.lead() => outcome,
            };
            let wait = match outcome {
                Ok(Standby::Yes) => Duration::from_millis(self.settings.standby_poll_ms),
                Err((e, published)) => {
                    // A stretch of confirmed publishing means the outage is over: start the
                    // next one's backoff small again.
                    if published {
                        backoff = Duration::from_millis(100).min(max_backoff);
                    }
                    tracing::warn!(error = ?e, retry_in_ms = backoff.as_millis() as u64, "warehouse feed stopped; retrying");
                    let wait = backoff;
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Becomes the active feed if no one else is; then publishes until an error. The error
    /// comes with whether any batch was confirmed before it.
    async fn lead(&self) -> Result<Standby, (FeedError, bool)> {
        let mut lock = self
            .pool
            .acquire()
            .await
            .map_err(|e| (e.into(), false))?
            .detach();
        let leading: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("projection:{FEED_NAME}"))
            .fetch_one(&mut lock)
            .await
            .map_err(|e| (e.into(), false))?;
        if !leading {
            lock.close().await.ok();
            return Ok(Standby::Yes);
        }
        let mut published = false;
        let stopped = tokio::select! {
            e = self.follow(&mut published) => e,
            e = hold(&mut lock) => e.into(),
        };
        Err((stopped, published))
    }

    async fn follow(&self, published: &mut bool) -> FeedError {
        match self.publish_from_checkpoint(published).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn publish_from_checkpoint(
        &self,
        published: &mut bool,
    ) -> Result<std::convert::Infallible, FeedError> {
        let connection = self.amqp.connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.amqp.declare(&channel).await?;
        tracing::info!("active; publishing to the broker");

        let mut at = checkpoint::load(&self.pool).await?;
        let after = (at != Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, FeedMessage::filter());
        let exchange = self.amqp.exchange();
        loop {
            let batch = subscription
                .next_batch(usize::from(self.settings.batch_size))
                .await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(ProjectorError::SubscriptionEnded.into());
            };
            let started = std::time::Instant::now();
            publish(&channel, &exchange, &batch).await?;
            checkpoint::advance(&self.pool, at, last).await?;
            *published = true;
            metrics::counter!("warehouse_feed_events_published_total")
                .increment(batch.len() as u64);
            metrics::histogram!("warehouse_feed_batch_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(events = batch.len(), position = %last, "batch confirmed");
            at = last;
        }
    }
}

/// Publishes a batch and waits for every confirm. Publishing all first and awaiting after
/// keeps one round trip per batch instead of one per message.
async fn publish(
    channel: &Channel,
    exchange: &str,
    batch: &[RecordedEvent],
) -> Result<(), FeedError> {
    let mut pending = Vec::with_capacity(batch.len());
    for event in batch {
        let message = FeedMessage::from_recorded(event)?;
        let body = serde_json::to_vec(&message).map_err(|_| FeedError::NotConfirmed(event.id))?;
        // Mandatory: a message no queue takes comes back instead of vanishing.
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = channel
            .basic_publish(
                exchange.into(),
                message.event_type.as_str().into(),
                options,
                &body,
                message.properties(),
            )
            .await?;
        pending.push((message.id, confirm));
    }
    for (id, confirm) in pending {
        let confirmation = confirm.await?;
        if !confirmation.is_ack() || confirmation.take_message().is_some() {
            return Err(FeedError::NotConfirmed(id));
        }
    }
    Ok(())
}

/// Pings the lock's connection until it fails.
async fn hold(lock: &mut sqlx::PgConnection) -> sqlx::Error {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Err(e) = lock.ping().await {
            return e;
        }
    }
}

/// The feed's checkpoint row. Not in `checkpoint.rs`: it is not a [`crate::Projection`], and
/// it is not announced, since no read waits for the warehouse.
pub mod checkpoint {
    use super::FEED_NAME;
    use crate::ProjectorError;
    use event_store::Position;
    use sqlx::PgPool;

    /// Where the feed stands: every event up to here is confirmed by the broker.
    pub async fn load(pool: &PgPool) -> Result<Position, sqlx::Error> {
        sqlx::query(
            "INSERT INTO projections.checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(FEED_NAME)
        .execute(pool)
        .await?;
        let (commit, prepare): (i64, i64) = sqlx::query_as(
            "SELECT commit_position, prepare_position FROM projections.checkpoints WHERE name = $1",
        )
        .bind(FEED_NAME)
        .fetch_one(pool)
        .await?;
        Ok(Position::new(
            u64::try_from(commit).unwrap_or_default(),
            u64::try_from(prepare).unwrap_or_default(),
        ))
    }

    /// Compare-and-set from `from` to `to`: a stale leader's move fails instead of going back.
    pub(super) async fn advance(
        pool: &PgPool,
        from: Position,
        to: Position,
    ) -> Result<(), ProjectorError> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let moved = sqlx::query(
            "UPDATE projections.checkpoints
             SET commit_position = $2, prepare_position = $3, updated_at = now()
             WHERE name = $1 AND commit_position = $4 AND prepare_position = $5",
        )
        .bind(FEED_NAME)
        .bind(as_i64(to.commit))
        .bind(as_i64(to.prepare))
        .bind(as_i64(from.commit))
        .bind(as_i64(from.prepare))
        .execute(pool)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(ProjectorError::Fenced(FEED_NAME.into()));
        }
        Ok(())
    }
}
