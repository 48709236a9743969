//! `booking migrate`: every schema created or upgraded in one step, by the owner of the
//! databases, before services start that may not run DDL (`MIGRATE=skip`); and, asked to, the
//! grants that give each service's database role what it needs and nothing more.
//!
//! The grants are the SQL files in `deploy/grants`, built into the binary so the image needs
//! no copy of the repository. They run after the migrations because they name the tables.

use crate::settings::{Common, Migrate, StatementTimeout, warehouse_pool};
use anyhow::Context;

/// Rights of the services in the read-model database.
const READ_MODELS_GRANTS: &str = include_str!("../../../deploy/grants/read_models.sql");
/// Rights of the services on the PostgreSQL event store.
const EVENT_STORE_GRANTS: &str = include_str!("../../../deploy/grants/event_store.sql");
/// Rights of the etl and the analysts in the warehouse database.
const WAREHOUSE_GRANTS: &str = include_str!("../../../deploy/grants/warehouse.sql");

/// Migrates the event store (when it is PostgreSQL), the read-model database (read models,
/// id sequences, signing keys and accounts, whether or not accounts are used yet) and, when
/// given, the warehouse; then applies the grants if `grants`.
pub(crate) async fn run(
    common: &Common,
    warehouse: Option<&etl::Settings>,
    grants: bool,
) -> anyhow::Result<()> {
    let url = common.event_store_url();
    let postgres_log = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if postgres_log {
        let pool = connect(common, url)
            .await
            .context("connecting to the event store")?;
        event_store::postgres::migrate(&pool)
            .await
            .context("migrating the event store")?;
        if grants {
            apply(&pool, EVENT_STORE_GRANTS)
                .await
                .context("granting the services their rights on the event store")?;
        }
    }

    let pool = common.pool().await?;
    projector::migrate(&pool)
        .await
        .context("migrating the read models")?;
    commands::migrate(&pool)
        .await
        .context("migrating the id sequences")?;
    auth::migrate(&pool)
        .await
        .context("migrating the signing keys and accounts")?;
    if grants {
        apply(&pool, READ_MODELS_GRANTS)
            .await
            .context("granting the services their rights on the read models")?;
    }

    if let Some(settings) = warehouse {
        let pool = warehouse_pool(settings, 1, StatementTimeout::NONE, Migrate::AUTO).await?;
        if grants {
            apply(&pool, WAREHOUSE_GRANTS)
                .await
                .context("granting the etl and the analysts their rights on the warehouse")?;
        }
    }
    tracing::info!(grants, "migrations applied");
    Ok(())
}

async fn connect(common: &Common, url: &str) -> anyhow::Result<sqlx::PgPool> {
    let options = common.statement_timeout.connect_options(url)?;
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Runs one grants file. It is sent as one simple query, which PostgreSQL runs as one
/// transaction: the roles never hold half of their rights.
async fn apply(pool: &sqlx::PgPool, grants: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(grants).execute(pool).await?;
    Ok(())
}
