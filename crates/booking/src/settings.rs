//! Settings the roles share (database, event store, logging, warehouse), and turning them into
//! connections.

use anyhow::Context;
use clap::{Args, ValueEnum};
use event_store::{AnyStore, Migrations};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::time::Duration;

/// Whether this process takes part in the warehouse (the feed, and in `all` the etl too).
#[derive(Args, Clone, Copy)]
pub(crate) struct Warehouse {
    /// Run the warehouse feed (and, in `all`, the etl). While RabbitMQ is down the feed waits
    /// and retries; the read models never wait for it.
    #[arg(id = "warehouse", long = "warehouse", env = "WAREHOUSE", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) enabled: bool,
}

/// Whether a service brings the schemas it uses up to date at start-up.
#[derive(Args, Clone, Copy)]
pub(crate) struct Migrate {
    /// auto: the role creates or upgrades the schemas it uses at start-up, which takes the
    /// rights of their owner. skip: `booking migrate` has done that, as the owner, so the
    /// role's database user needs no right to create, alter or drop anything (compose).
    #[arg(id = "migrate", long = "migrate", env = "MIGRATE", value_enum, default_value_t = MigrateMode::Auto)]
    pub(crate) mode: MigrateMode,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MigrateMode {
    Auto,
    Skip,
}

impl Migrate {
    /// What operator commands and `booking migrate` do: they run as the owner.
    pub(crate) const AUTO: Self = Self {
        mode: MigrateMode::Auto,
    };

    /// What `booking report` does: it may run as the analysts' read-only role.
    pub(crate) const SKIP: Self = Self {
        mode: MigrateMode::Skip,
    };

    pub(crate) fn runs(self) -> bool {
        self.mode == MigrateMode::Auto
    }

    fn migrations(self) -> Migrations {
        if self.runs() {
            Migrations::Run
        } else {
            Migrations::Skip
        }
    }
}

/// Logging, for roles that do not read the shared database settings.
#[derive(Args, Clone)]
pub(crate) struct Logging {
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// The simulated payment provider, which `booking all` runs beside the API.
#[derive(Args, Clone)]
pub(crate) struct Simulator {
    /// Address the simulated payment provider listens on (PAYMENT_PROVIDER_URL points here).
    #[arg(
        long = "payment-simulator-listen",
        env = "PAYMENT_SIMULATOR_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub(crate) simulator_listen: std::net::SocketAddr,

    /// Where the provider delivers its webhooks: the command API's `/payments/webhook`.
    #[arg(
        long = "payment-webhook-url",
        env = "PAYMENT_WEBHOOK_URL",
        default_value = "http://127.0.0.1:8081/payments/webhook"
    )]
    pub(crate) simulator_webhook_url: String,
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

    #[command(flatten)]
    pub(crate) statement_timeout: StatementTimeout,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// PostgreSQL's `statement_timeout`, set on every connection of every pool the process opens
/// (read models, event store, warehouse): a slow or stuck statement is cancelled instead of
/// holding its connection and its locks while callers queue behind it.
#[derive(Args, Clone, Copy)]
pub(crate) struct StatementTimeout {
    /// Longest one SQL statement may run, in milliseconds (0: no limit). Operator commands
    /// whose statements grow with the whole log (rebuild, verify, backfill, migrate, report)
    /// run without a limit.
    #[arg(
        id = "database_statement_timeout_ms",
        long = "database-statement-timeout-ms",
        env = "DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub(crate) millis: u64,
}

impl StatementTimeout {
    /// For operator commands: an operator runs them in the foreground and can interrupt them
    /// (rebuild resumes where it stopped), no client waits on them, and their statements
    /// (a rebuild's swap, a verify's full-table diff, a backfill's load, an index a migration
    /// builds) take longer as the log grows. A limit would only make them fail halfway on a
    /// large log.
    pub(crate) const NONE: Self = Self { millis: 0 };

    /// The connection options of `url`, with this timeout on every connection.
    pub(crate) fn connect_options(self, url: &str) -> anyhow::Result<PgConnectOptions> {
        let options: PgConnectOptions = url.parse().context("parsing a PostgreSQL URL")?;
        Ok(options.options([("statement_timeout", self.millis.to_string())]))
    }

    /// What the event store passes on; `None` for no limit.
    fn duration(self) -> Option<Duration> {
        (self.millis > 0).then(|| Duration::from_millis(self.millis))
    }
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

/// The warehouse database, created and migrated if needed (unless `migrate` says skip).
pub(crate) async fn warehouse_pool(
    settings: &etl::Settings,
    max_connections: u32,
    statement_timeout: StatementTimeout,
    migrate: Migrate,
) -> anyhow::Result<sqlx::PgPool> {
    if migrate.runs() {
        etl::ensure_database(&settings.database_url)
            .await
            .context("creating the warehouse database")?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(statement_timeout.connect_options(&settings.database_url)?)
        .await
        .context("connecting to WAREHOUSE_DATABASE_URL")?;
    if migrate.runs() {
        etl::migrate(&pool)
            .await
            .context("migrating the warehouse")?;
    }
    Ok(pool)
}

impl Common {
    pub(crate) fn init_tracing(&self) {
        init_tracing(self.log_format);
    }

    /// What operator commands do first: start logging, connect to the event store and the
    /// read-model database, and bring their schemas up to date.
    pub(crate) async fn start(&self) -> anyhow::Result<(AnyStore, sqlx::PgPool)> {
        self.start_with(Migrate::AUTO).await
    }

    /// As [`start`](Self::start) for a service, which migrates only if `migrate` says so.
    pub(crate) async fn start_with(
        &self,
        migrate: Migrate,
    ) -> anyhow::Result<(AnyStore, sqlx::PgPool)> {
        self.init_tracing();
        let (store, pool) = (self.store_with(migrate).await?, self.pool().await?);
        if migrate.runs() {
            projector::migrate(&pool)
                .await
                .context("migrating the read models")?;
        }
        Ok((store, pool))
    }

    /// These settings for an operator command: no statement timeout (see
    /// [`StatementTimeout::NONE`]).
    pub(crate) fn for_operator(mut self) -> Self {
        self.statement_timeout = StatementTimeout::NONE;
        self
    }

    pub(crate) async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        PgPoolOptions::new()
            .max_connections(self.database_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(self.statement_timeout.connect_options(&self.database_url)?)
            .await
            .context("connecting to DATABASE_URL")
    }

    pub(crate) async fn store(&self) -> anyhow::Result<AnyStore> {
        self.store_with(Migrate::AUTO).await
    }

    /// The event store's URL: EVENT_STORE_URL, or DATABASE_URL.
    pub(crate) fn event_store_url(&self) -> &str {
        self.event_store_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }

    async fn store_with(&self, migrate: Migrate) -> anyhow::Result<AnyStore> {
        AnyStore::connect_bounded(
            self.event_store_url(),
            self.database_max_connections,
            self.statement_timeout.duration(),
            migrate.migrations(),
        )
        .await
        .context("connecting to the event store")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Role};
    use clap::Parser;
    use event_store::testing::TestDatabase;

    /// The shared settings of `booking command-api` given these extra arguments.
    fn common(database: &TestDatabase, args: &[&str]) -> Common {
        let base = ["booking", "command-api", "--database-url", &database.url];
        let cli = Cli::try_parse_from(base.iter().chain(args)).expect("arguments");
        match cli.role {
            Role::CommandApi { common, .. } => common,
            _ => unreachable!("parsed command-api"),
        }
    }

    async fn statement_timeout(pool: &sqlx::PgPool) -> String {
        sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(pool)
            .await
            .expect("SHOW statement_timeout")
    }

    #[tokio::test]
    async fn every_pool_of_a_role_carries_the_configured_statement_timeout() {
        let database = TestDatabase::create().await;
        let common = common(&database, &["--database-statement-timeout-ms", "1234"]);
        let pool = common.pool().await.expect("read-model pool");
        assert_eq!(statement_timeout(&pool).await, "1234ms");
        let AnyStore::Postgres(store) = common.store().await.expect("event store") else {
            unreachable!("a postgres:// URL selects PostgreSQL")
        };
        assert_eq!(statement_timeout(store.pool()).await, "1234ms");
    }

    #[tokio::test]
    async fn the_etl_role_s_warehouse_pool_carries_the_configured_statement_timeout() {
        let warehouse = TestDatabase::create().await;
        let cli = Cli::try_parse_from([
            "booking",
            "etl",
            "--warehouse-database-url",
            &warehouse.url,
            "--database-statement-timeout-ms",
            "4321",
        ])
        .expect("arguments");
        let Role::Etl {
            etl,
            statement_timeout: timeout,
            ..
        } = cli.role
        else {
            unreachable!("parsed etl")
        };
        let pool = warehouse_pool(&etl, 1, timeout, Migrate::AUTO)
            .await
            .expect("warehouse pool");
        assert_eq!(statement_timeout(&pool).await, "4321ms");
    }

    #[tokio::test]
    async fn the_statement_timeout_is_thirty_seconds_unless_set_and_none_for_operators() {
        let database = TestDatabase::create().await;
        let common = common(&database, &[]);
        let pool = common.pool().await.expect("pool");
        assert_eq!(statement_timeout(&pool).await, "30s");
        let pool = common.for_operator().pool().await.expect("operator pool");
        assert_eq!(statement_timeout(&pool).await, "0");
    }
}
