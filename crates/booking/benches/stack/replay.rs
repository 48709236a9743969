//! (g) and (h): the two figures that replay the log the run has written, each as the real
//! operation in its own process. (g) is `booking rebuild` while the stack keeps serving;
//! (h) is `booking etl` started once the warehouse feed has queued the whole log, timed from
//! its start to its last loaded batch.

use crate::report::{Row, per_second};
use crate::roles::{Env, Role};
use anyhow::{Context, bail};
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub struct Rebuilt {
    pub events: u64,
    pub rate: f64,
    pub peak_kib: u64,
}

/// Runs `booking rebuild` to its end and reads its summary line:
/// "rebuilt N events in X s (R events/s); ...".
pub fn rebuild(env: &Env) -> anyhow::Result<Rebuilt> {
    let (out, peak_kib) = env.run_to_end(&["rebuild", "--fresh"], "rebuild")?;
    let line = out
        .lines()
        .find_map(|line| line.strip_prefix("rebuilt "))
        .with_context(|| format!("no summary in rebuild's output: {out}"))?;
    let events = line
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("an event count")?;
    let rate = line
        .split_once('(')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .context("a rate")?;
    Ok(Rebuilt {
        events,
        rate,
        peak_kib,
    })
}

pub struct Loaded {
    pub events: i64,
    pub rate: f64,
}

impl Rebuilt {
    pub fn row(&self, ceiling: f64) -> Row {
        row(
            "(g) rebuild all projections",
            self.rate,
            self.events,
            ceiling,
        )
    }
}

impl Loaded {
    pub fn row(&self, ceiling: f64) -> Row {
        row(
            "(h) warehouse load (etl from RabbitMQ)",
            self.rate,
            self.events,
            ceiling,
        )
    }
}

/// A row for a replay figure: its rate next to the ceiling's.
fn row(figure: &str, rate: f64, events: impl std::fmt::Display, ceiling: f64) -> Row {
    let rate_text = per_second(rate);
    Row::new(
        figure,
        format!(
            "{} events/s over {events} events",
            rate_text.trim_end_matches("/s")
        ),
    )
    .rate(rate, ceiling)
}

/// Waits for the feed to have queued the whole log, then starts the etl and times the load.
pub async fn warehouse(
    env: &Env,
    log: &PgPool,
    warehouse: &PgPool,
    extra: &[(&str, String)],
) -> anyhow::Result<(Loaded, Role)> {
    // Only train and lobby streams feed the warehouse: accounts (the holds figures sign
    // travellers in) stay out of it, so they count neither here nor in the load.
    let (trains, lobbies) = (
        format!("{}%", domain::TrainId::STREAM_PREFIX),
        format!("{}%", domain::LobbyId::STREAM_PREFIX),
    );
    let head: (i64, i64) = sqlx::query_as(
        "SELECT xid, seq FROM event_store.events WHERE stream_id LIKE $1 OR stream_id LIKE $2
         ORDER BY xid DESC, seq DESC LIMIT 1",
    )
    .bind(&trains)
    .bind(&lobbies)
    .fetch_one(log)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM event_store.events WHERE stream_id LIKE $1 OR stream_id LIKE $2",
    )
    .bind(&trains)
    .bind(&lobbies)
    .fetch_one(log)
    .await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let fed: Option<(i64, i64)> = sqlx::query_as(
            "SELECT commit_position, prepare_position FROM projections.checkpoints
             WHERE name = 'warehouse-feed'",
        )
        .fetch_optional(log)
        .await?;
        if fed.is_some_and(|fed| fed >= head) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the warehouse feed did not publish the log in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Timed from the start of the process, so its start-up (connecting, migrating the
    // warehouse) counts too: small next to a real backlog, but it flatters nothing.
    let started = Instant::now();
    let etl = Role::start(env, "etl", extra)?;
    let deadline = started + Duration::from_secs(600);
    loop {
        // The etl creates the table when it starts.
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM warehouse.loaded_events")
            .fetch_one(warehouse)
            .await
            .unwrap_or_default();
        if count >= total {
            let rate = count as f64 / started.elapsed().as_secs_f64();
            return Ok((
                Loaded {
                    events: count,
                    rate,
                },
                etl,
            ));
        }
        if Instant::now() > deadline {
            bail!("the etl loaded {count} of {total} events in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
