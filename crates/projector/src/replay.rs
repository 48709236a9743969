//! Replaying the log into a copy of the read models, for two operations:
//!
//! - `rebuild` builds fresh copies in `read_models_next` while the live models keep serving
//!   and following the log, then swaps each copy in. The swap locks the live tables, applies
//!   the few events the copy still lacks (up to the live checkpoint), moves the tables and the
//!   checkpoint in one transaction, so queries see either the old model or the complete new
//!   one and no event is lost. Progress lives in `<projection>@rebuild` checkpoints, so an
//!   interrupted rebuild continues where it stopped.
//! - `verify` folds the log into a scratch schema up to the live checkpoints, read in a
//!   repeatable-read snapshot together with the live rows, and diffs the two. It never writes
//!   to the live models.
//!
//! This file holds what both share: the copies, their checkpoints, and the replay that fills
//! them; each operation lives in its own file beside it.

mod rebuild;
mod verify;

pub use rebuild::{RebuildReport, rebuild};
pub use verify::{Difference, Verification, verify};

use crate::sorted::{self, Decoded, Unapplied};
use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use event_store::checkpoint;
use event_store::quarantine::{self, Quarantine};
use event_store::{EventStore, Filter, Position, RecordedEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// Events read per page and applied per transaction.
const PAGE: usize = 10_000;
const NEXT_SCHEMA: &str = "read_models_next";

/// Empty tables shaped like the live ones, in `schema`.
async fn create_copies(
    pool: &PgPool,
    projections: &[Projection],
    schema: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(pool)
        .await?;
    for table in projections.iter().flat_map(|p| p.tables()) {
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} (LIKE {LIVE_SCHEMA}.{table} INCLUDING ALL)"
        ))
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Drops copies and their checkpoints.
async fn discard(
    pool: &PgPool,
    projections: &[Projection],
    schema: &str,
    suffix: &str,
) -> Result<(), sqlx::Error> {
    for table in projections.iter().flat_map(|p| p.tables()) {
        sqlx::query(&format!("DROP TABLE IF EXISTS {schema}.{table}"))
            .execute(pool)
            .await?;
    }
    if schema != NEXT_SCHEMA {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema}"))
            .execute(pool)
            .await?;
    }
    for projection in projections {
        let copy = copy_name(*projection, suffix);
        sqlx::query("DELETE FROM projections.checkpoints WHERE name = $1")
            .bind(&copy)
            .execute(pool)
            .await?;
        copy_quarantine(&copy).clear(pool).await?;
    }
    Ok(())
}

fn copy_name(projection: Projection, suffix: &str) -> String {
    format!("{}@{suffix}", projection.name())
}

/// Where a copy sets aside what it cannot apply, as the live projection does.
fn copy_quarantine(copy: &str) -> Quarantine {
    Quarantine::new(quarantine::READ_MODELS, copy)
}

/// Events of one page, decoded where they can be.
type Page = Vec<(RecordedEvent, Decoded)>;

/// A replay of the log into copies of some projections.
struct Replay<'a, S> {
    store: &'a S,
    pool: &'a PgPool,
    projections: Vec<Projection>,
    schema: String,
    suffix: String,
    /// Where each copy stands.
    at: BTreeMap<Projection, Position>,
}

impl<'a, S: EventStore> Replay<'a, S> {
    async fn load(
        store: &'a S,
        pool: &'a PgPool,
        projections: &[Projection],
        schema: &str,
        suffix: &str,
    ) -> Result<Self, ProjectorError> {
        let mut at = BTreeMap::new();
        for &projection in projections {
            at.insert(
                projection,
                checkpoint::load(pool, &copy_name(projection, suffix)).await?,
            );
        }
        Ok(Self {
            store,
            pool,
            projections: projections.to_vec(),
            schema: schema.to_owned(),
            suffix: suffix.to_owned(),
            at,
        })
    }

    fn filter(&self) -> Filter {
        Projection::union(self.projections.iter().copied())
    }

    /// Replays until the log's end as it was when reached (or each copy's `until`), one
    /// transaction per page, reading the next page while the current one is written.
    async fn catch_up(
        &mut self,
        until: Option<&BTreeMap<Projection, Position>>,
        shutdown: &CancellationToken,
        verb: &'static str,
    ) -> Result<u64, ProjectorError> {
        let start = self.at.values().min().copied().unwrap_or_default();
        let total = self.store.count(Some(start)).await?;
        let progress = progress_bar(total, verb);
        let stop_at = until.and_then(|u| u.values().max().copied());
        let (pages, mut incoming) = tokio::sync::mpsc::channel::<Result<Page, ProjectorError>>(2);
        let (store, filter) = (self.store.clone(), self.filter());
        let reader = tokio::spawn(async move {
            let mut after = (start != Position::default()).then_some(start);
            loop {
                let page = store
                    .read_all(after, &filter, PAGE)
                    .await
                    .map_err(ProjectorError::from);
                let (last, full) = match &page {
                    Ok(page) => (page.last().map(|e| e.position), page.len() == PAGE),
                    Err(_) => (None, false),
                };
                // Decoding here overlaps it with writing the previous page.
                let page = page.map(|page| page.into_iter().map(sorted::decode_owned).collect());
                if pages.send(page).await.is_err() {
                    return;
                }
                let past_end = matches!((last, stop_at), (Some(last), Some(stop)) if last >= stop);
                if !full || past_end {
                    return;
                }
                after = last;
            }
        });
        let mut done = 0u64;
        while let Some(page) = incoming.recv().await {
            let page = page?;
            if page.is_empty() {
                break;
            }
            self.apply_page(&page, until).await?;
            done += page.len() as u64;
            progress.inc(page.len() as u64);
            if shutdown.is_cancelled() {
                break;
            }
        }
        reader.abort();
        progress.finish_and_clear();
        Ok(done)
    }

    /// Applies a page in one transaction. When an event fails because of its data, the page
    /// is applied again one event at a time, setting such events aside as the live runner
    /// does.
    async fn apply_page(
        &mut self,
        page: &Page,
        until: Option<&BTreeMap<Projection, Position>>,
    ) -> Result<(), ProjectorError> {
        let mut careful = false;
        loop {
            match self.try_page(page, until, careful).await {
                Ok(()) => return Ok(()),
                // Carefully, an event at fault is set aside instead of failing the page.
                Err(Unapplied::Poisoned) => careful = true,
                Err(Unapplied::Failed(e)) => return Err(e),
            }
        }
    }

    async fn try_page(
        &mut self,
        page: &Page,
        until: Option<&BTreeMap<Projection, Position>>,
        careful: bool,
    ) -> Result<(), Unapplied> {
        let mut tx = self.pool.begin().await?;
        // Losing the last commits in a server crash is harmless here: the copy's checkpoint is
        // lost with its rows, and the replay simply redoes them.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        let mut moved = Vec::new();
        for &projection in &self.projections {
            let from = self.at[&projection];
            let limit = until.and_then(|u| u.get(&projection).copied());
            let filter = projection.filter();
            let mut to = from;
            let mut events = Vec::new();
            for (recorded, decoded) in page {
                let in_range = recorded.position > from
                    && limit.is_none_or(|limit| recorded.position <= limit);
                if in_range && filter.matches(&recorded.stream) {
                    events.push((recorded, decoded));
                    to = recorded.position;
                }
            }
            if to == from {
                continue;
            }
            let copy = copy_name(projection, &self.suffix);
            let quarantine = copy_quarantine(&copy);
            let mut sorting = quarantine.sort(&mut tx).await?;
            sorted::apply(
                projection,
                &mut tx,
                &self.schema,
                &events,
                &mut sorting,
                true,
                careful,
            )
            .await?;
            quarantine.record(&mut tx, sorting).await?;
            checkpoint::advance(&mut tx, &copy, from, to).await?;
            moved.push((projection, to));
        }
        tx.commit().await?;
        self.at.extend(moved);
        Ok(())
    }
}

/// A terminal progress bar (events, events/s, ETA); hidden when stderr is not a terminal.
fn progress_bar(total: Option<u64>, verb: &'static str) -> ProgressBar {
    let bar = total.map_or_else(ProgressBar::no_length, ProgressBar::new);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let template =
        format!("{verb} {{wide_bar}} {{human_pos}}/{{human_len}} events, {{per_sec}}, ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
