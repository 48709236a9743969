//! `booking quarantine list|retry`: the events that followers of the log set aside because
//! they could not decode or apply them, and applying them again once a fix is deployed.
//!
//! A retry goes follower by follower and, within one, stream by stream in log order; a stream
//! stops at its first event that still fails, so later events never overtake it. The
//! read-model database holds the projections', reactors' and warehouse feed's quarantine, the
//! warehouse the etl's.

use crate::settings::{Common, Migrate, warehouse_pool};
use anyhow::Context;
use clap::Subcommand;
use event_store::AnyStore;
use event_store::quarantine::{self, Entry, Retried};
use projector::feed::{Amqp, FEED_NAME};
use sqlx::PgPool;

#[derive(Subcommand)]
pub(crate) enum Action {
    /// Print every quarantined event: follower, log position, stream, type, error kind,
    /// attempts and when it was set aside.
    List,
    /// Apply every quarantined event again, in order per stream; exits with status 1 while
    /// any remains.
    Retry,
}

pub(crate) async fn run(
    common: Common,
    etl: etl::Settings,
    amqp: Amqp,
    action: Action,
) -> anyhow::Result<()> {
    let (store, pool) = common.start().await?;
    let warehouse = warehouse_pool(&etl, 2, common.statement_timeout, Migrate::AUTO).await?;
    match action {
        Action::List => print_entries(&all(&pool, &warehouse).await?),
        Action::Retry => {
            if retry(&store, &pool, &warehouse, &amqp).await? > 0 {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

async fn all(pool: &PgPool, warehouse: &PgPool) -> anyhow::Result<Vec<Entry>> {
    let mut entries = quarantine::list(&mut *pool.acquire().await?, quarantine::READ_MODELS)
        .await
        .context("reading the read-model quarantine")?;
    entries.extend(
        quarantine::list(&mut *warehouse.acquire().await?, quarantine::WAREHOUSE)
            .await
            .context("reading the warehouse quarantine")?,
    );
    Ok(entries)
}

/// Retries every follower that holds events; returns how many remain.
async fn retry(
    store: &AnyStore,
    pool: &PgPool,
    warehouse: &PgPool,
    amqp: &Amqp,
) -> anyhow::Result<usize> {
    let entries = all(pool, warehouse).await?;
    let holds = |runner: &str| entries.iter().any(|e| e.runner == runner);
    let mut report: Vec<(String, Retried)> = Vec::new();
    for projection in projector::Projection::ALL {
        if holds(projection.name()) {
            let retried = projector::retry(store, pool, projection)
                .await
                .with_context(|| format!("retrying projection {}", projection.name()))?;
            report.push((projection.name().to_owned(), retried));
        }
    }
    if command_api::reactor_names().iter().any(|name| holds(name)) {
        for (name, retried) in command_api::retry_reactions(store, pool)
            .await
            .context("retrying the reactors")?
        {
            report.push((name.to_owned(), retried));
        }
    }
    if holds(FEED_NAME) {
        let retried = projector::feed::retry(store, pool, amqp)
            .await
            .context("retrying the warehouse feed")?;
        report.push((FEED_NAME.to_owned(), retried));
    }
    if holds(etl::ETL_RUNNER) {
        let retried = etl::retry(store, warehouse)
            .await
            .context("retrying the etl")?;
        report.push((etl::ETL_RUNNER.to_owned(), retried));
    }
    if report.is_empty() {
        println!("nothing is quarantined");
    }
    for (runner, retried) in &report {
        println!(
            "{runner}: {} applied, {} still quarantined",
            retried.released, retried.remaining
        );
    }
    Ok(report.iter().map(|(_, r)| r.remaining).sum())
}

/// One line per event, under a header; or a line saying there are none.
pub(crate) fn print_entries(entries: &[Entry]) {
    if entries.is_empty() {
        println!("no quarantined events");
        return;
    }
    println!(
        "runner\tposition\tstream\trevision\tevent_type\terror_kind\tattempts\tquarantined_at"
    );
    for e in entries {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.runner,
            e.position,
            e.stream,
            e.revision.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            e.event_type,
            e.error_kind,
            e.attempts,
            e.quarantined_at.to_rfc3339(),
        );
    }
}
