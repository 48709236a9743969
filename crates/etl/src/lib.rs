//! The etl: loads the warehouse feed from RabbitMQ into a star schema in its own PostgreSQL
//! database, where analysts query documented views (see README, "Warehouse").
//!
//! It reads only the feed, never the event store; `backfill` is the exception by design, and
//! builds the same warehouse straight from the log through the same loader.

mod backfill;
mod consume;
mod load;
mod report;
#[cfg(feature = "testing")]
pub mod testing;

pub use backfill::{BackfillReport, backfill};
pub use consume::{Batch, BatchAcker, FeedConsumer};
pub use load::{ETL_RUNNER, Loaded, Rejected, load, load_in, retry};
pub use report::{Period, Table, report};

use projector::feed::Amqp;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The warehouse schema. Versions start at 20261122060000 so they never collide with the
/// other crates' migrations, should someone point the warehouse at the same database.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or upgrades the warehouse schema and its views.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}

/// Settings of the etl and the warehouse. No `Debug`: the URL may hold a password.
#[derive(Clone, clap::Args)]
#[group(id = "etl-settings")]
#[command(next_help_heading = "Warehouse")]
pub struct Settings {
    /// PostgreSQL URL of the warehouse database (the etl's own; created if missing).
    #[arg(
        id = "warehouse-database-url",
        long = "warehouse-database-url",
        env = "WAREHOUSE_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/warehouse"
    )]
    pub database_url: String,

    /// Most events loaded in one transaction (it also ends at 64 broker messages).
    #[arg(id = "etl-batch-size", long = "etl-batch-size", env = "ETL_BATCH_SIZE", default_value_t = 5000, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,

    /// Longest wait for a batch to fill before loading what has arrived, in milliseconds.
    #[arg(
        id = "etl-flush-ms",
        long = "etl-flush-ms",
        env = "ETL_FLUSH_MS",
        default_value_t = 100
    )]
    pub flush_ms: u64,

    /// Consumers on the queue in this process, each with its own connection and transaction.
    #[arg(id = "etl-consumers", long = "etl-consumers", env = "ETL_CONSUMERS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub consumers: u8,
}

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            batch_size: 5000,
            flush_ms: 100,
            consumers: 1,
        }
    }
}

/// Why loading stopped.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error("broker")]
    Broker(#[from] lapin::Error),
    #[error("warehouse database")]
    Database(#[from] sqlx::Error),
    #[error("event store")]
    Store(#[from] event_store::StoreError),
    #[error(transparent)]
    Feed(#[from] projector::ProjectorError),
    #[error("the broker cancelled the consumer")]
    ConsumerEnded,
}

/// Consumes the feed into the warehouse until `shutdown`, reconnecting with backoff when the
/// broker or the database goes away. Runs `settings.consumers` consumers on the queue, each
/// with its own connection, so the broker's deliveries and the database's work spread over
/// several cores; loading is idempotent and order-proof, and each consumer acknowledges a
/// batch only after it committed. Several etl processes may share the queue the same way.
pub async fn run(amqp: Amqp, pool: PgPool, settings: Settings, shutdown: CancellationToken) {
    let lanes: Vec<_> = (0..settings.consumers.max(1))
        .map(|lane| {
            tokio::spawn(supervise(
                lane,
                amqp.clone(),
                pool.clone(),
                settings.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    for lane in lanes {
        let _ = lane.await;
    }
}

#[tracing::instrument(skip_all, fields(consumer = lane))]
async fn supervise(
    lane: u8,
    amqp: Amqp,
    pool: PgPool,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let mut loaded_any = false;
        let stopped = tokio::select! {
            () = shutdown.cancelled() => return,
            stopped = consume(&amqp, &pool, &settings, &mut loaded_any) => stopped,
        };
        if loaded_any {
            backoff = Duration::from_millis(100);
        }
        tracing::warn!(error = ?stopped, retry_in_ms = backoff.as_millis() as u64, "etl stopped; retrying");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Receiving and parsing run in their own task, one batch ahead, while this one loads and
/// acknowledges in order: the broker's delivery and the database's work overlap instead of
/// taking turns.
#[tracing::instrument(skip_all, name = "etl")]
async fn consume(
    amqp: &Amqp,
    pool: &PgPool,
    settings: &Settings,
    loaded_any: &mut bool,
) -> EtlError {
    let flush = Duration::from_millis(settings.flush_ms);
    let mut consumer = match FeedConsumer::connect(amqp, settings.batch_size, flush).await {
        Ok(consumer) => consumer,
        Err(e) => return e,
    };
    tracing::info!(queue = %amqp.queue(), "consuming the warehouse feed");
    let acker = consumer.acker();
    let (ready, mut batches) = tokio::sync::mpsc::channel::<Batch>(1);
    // Dropping the handle (on any error here) stops the receiver and, with it, the consumer
    // and its connection: unacknowledged deliveries go back to the queue.
    let mut receiver = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        loop {
            match consumer.next_batch().await {
                Ok(batch) => {
                    if ready.send(batch).await.is_err() {
                        return EtlError::ConsumerEnded;
                    }
                }
                Err(e) => return e,
            }
        }
    }));
    loop {
        let batch = tokio::select! {
            batch = batches.recv() => batch,
            stopped = &mut receiver => {
                return stopped.unwrap_or(EtlError::ConsumerEnded);
            }
        };
        let Some(batch) = batch else {
            return EtlError::ConsumerEnded;
        };
        if let Err(e) = load_batch(&batch, &acker, pool).await {
            return e;
        }
        *loaded_any = true;
    }
}

/// One turn: a batch committed, then acknowledged.
async fn load_batch(batch: &Batch, acker: &BatchAcker, pool: &PgPool) -> Result<(), EtlError> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let loaded = load_in(&mut tx, &batch.messages, &batch.rejected).await?;
    tx.commit().await?;
    acker.ack(batch).await?;
    metrics::counter!("etl_events_loaded_total").increment(loaded.fresh as u64);
    metrics::counter!("etl_events_repeated_total").increment(loaded.repeated as u64);
    metrics::histogram!("etl_batch_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(
        fresh = loaded.fresh,
        repeated = loaded.repeated,
        redelivered = batch.redelivered,
        "batch loaded"
    );
    Ok(())
}

/// Creates the warehouse database named in `url` if it does not exist, connecting to the
/// server's `postgres` database to do it.
pub async fn ensure_database(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    use sqlx::postgres::PgConnectOptions;
    let options: PgConnectOptions = url.parse()?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = options.database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        let created = sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut admin)
            .await;
        // Another process may have created it in between.
        if let Err(e) = created {
            let raced = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|code| code == "42P04");
            if !raced {
                return Err(e);
            }
        }
        tracing::info!(database = %name, "created the warehouse database");
    }
    Ok(())
}
