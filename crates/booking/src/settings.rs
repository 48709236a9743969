//! Settings the roles share (database, event store, logging, warehouse), and turning them into
//! connections.

use anyhow::Context;
use clap::{Args, ValueEnum};
use event_store::AnyStore;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// Whether this process takes part in the warehouse (the feed, and in `all` the etl too).
#[derive(Args, Clone, Copy)]
pub(crate) struct Warehouse {
    /// Run the warehouse feed (and, in `all`, the etl). While RabbitMQ is down the feed waits
    /// and retries; the read models never wait for it.
    #[arg(id = "warehouse", long = "warehouse", env = "WAREHOUSE", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) enabled: bool,
}

/// Logging, for roles that do not read the shared database settings.
#[derive(Args, Clone)]
pub(crate) struct Logging {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// Settings every role shares. No `Debug`: the URLs may hold passwords.
#[derive(Args, Clone)]
pub(crate) struct Common {
    /// PostgreSQL URL of the read models and id sequences.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/booking"
    )]
    pub(crate) database_url: String,

    /// Event store URL: postgres:// or postgresql:// selects the PostgreSQL adapter;
    /// esdb://, kurrentdb:// (one node, e.g. esdb://127.0.0.1:2113?tls=false) or
    /// esdb+discover://, kurrentdb+discover:// (cluster gossip) select EventStoreDB/KurrentDB.
    /// Defaults to DATABASE_URL.
    #[arg(long, env = "EVENT_STORE_URL")]
    pub(crate) event_store_url: Option<String>,

    /// Connections per database pool.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 20
    )]
    pub(crate) database_max_connections: u32,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

pub(crate) fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,lapin=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The warehouse database, created and migrated if needed.
pub(crate) async fn warehouse_pool(
    settings: &etl::Settings,
    max_connections: u32,
) -> anyhow::Result<sqlx::PgPool> {
    etl::ensure_database(&settings.database_url)
        .await
        .context("creating the warehouse database")?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&settings.database_url)
        .await
        .context("connecting to WAREHOUSE_DATABASE_URL")?;
    etl::migrate(&pool)
        .await
        .context("migrating the warehouse")?;
    Ok(pool)
}

impl Common {
    pub(crate) fn init_tracing(&self) {
        init_tracing(self.log_format);
    }

    /// What most roles do first: start logging, connect to the event store and the read-model
    /// database, and bring the read-model schema up to date.
    pub(crate) async fn start(&self) -> anyhow::Result<(AnyStore, sqlx::PgPool)> {
        self.init_tracing();
        let (store, pool) = (self.store().await?, self.pool().await?);
        projector::migrate(&pool)
            .await
            .context("migrating the read models")?;
        Ok((store, pool))
    }

    pub(crate) async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        PgPoolOptions::new()
            .max_connections(self.database_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&self.database_url)
            .await
            .context("connecting to DATABASE_URL")
    }

    pub(crate) async fn store(&self) -> anyhow::Result<AnyStore> {
        let url = self
            .event_store_url
            .as_deref()
            .unwrap_or(&self.database_url);
        AnyStore::connect(url, self.database_max_connections)
            .await
            .context("connecting to the event store")
    }
}
