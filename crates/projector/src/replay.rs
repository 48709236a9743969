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

use crate::checkpoint::{self, to_i64, to_u64};
use crate::{LIVE_SCHEMA, Projection, ProjectorError, decode, decode_owned};
use domain::DomainEvent;
use event_store::{EventStore, Filter, Position, RecordedEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Events read per page and applied per transaction.
const PAGE: usize = 10_000;
const NEXT_SCHEMA: &str = "read_models_next";
const RETIRED_SCHEMA: &str = "read_models_retired";

/// What a rebuild did.
#[derive(Debug)]
pub struct RebuildReport {
    pub events: u64,
    pub elapsed: Duration,
    /// How long each swap kept queries on its tables waiting.
    pub swaps: Vec<(Projection, Duration)>,
}

/// A row that differs between the live read model and a fresh fold of the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Difference {
    pub table: &'static str,
    pub id: i64,
    /// The row as JSON; `None` when missing on that side.
    pub live: Option<String>,
    pub rebuilt: Option<String>,
}

/// Rebuilds `projections` by replay and swaps the copies in. `fresh` discards an interrupted
/// rebuild instead of continuing it. Stops early, keeping its progress, on `shutdown`.
pub async fn rebuild<S: EventStore>(
    store: &S,
    pool: &PgPool,
    projections: &[Projection],
    fresh: bool,
    shutdown: &CancellationToken,
) -> Result<Option<RebuildReport>, ProjectorError> {
    let started = Instant::now();
    // Two rebuilds swapping the same tables would wait on each other's locks.
    let mut guard = pool.acquire().await?.detach();
    let alone: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('read-model-rebuild'))")
            .fetch_one(&mut guard)
            .await?;
    if !alone {
        return Err(ProjectorError::Busy);
    }
    let report = rebuild_alone(store, pool, projections, fresh, shutdown, started).await;
    // Unlock before closing: a closed connection's lock goes only when its server process
    // has exited, after `close` returns, so a rebuild started right after would see Busy.
    sqlx::query("SELECT pg_advisory_unlock(hashtext('read-model-rebuild'))")
        .execute(&mut guard)
        .await
        .ok();
    guard.close().await.ok();
    report
}

async fn rebuild_alone<S: EventStore>(
    store: &S,
    pool: &PgPool,
    projections: &[Projection],
    fresh: bool,
    shutdown: &CancellationToken,
    started: Instant,
) -> Result<Option<RebuildReport>, ProjectorError> {
    if fresh {
        discard(pool, projections, NEXT_SCHEMA, "rebuild").await?;
    }
    create_copies(pool, projections, NEXT_SCHEMA).await?;
    let mut replay = Replay::load(store, pool, projections, NEXT_SCHEMA, "rebuild").await?;
    let events = replay.catch_up(None, shutdown, "rebuilding").await?;
    if shutdown.is_cancelled() {
        return Ok(None);
    }
    let mut swaps = Vec::new();
    for &projection in projections {
        swaps.push((projection, replay.swap(projection).await?));
    }
    Ok(Some(RebuildReport {
        events,
        elapsed: started.elapsed(),
        swaps,
    }))
}

/// Folds the log into a scratch copy up to where the live models stand and returns every row
/// that differs. Read-only with respect to the live models.
pub async fn verify<S: EventStore>(
    store: &S,
    pool: &PgPool,
    projections: &[Projection],
) -> Result<Vec<Difference>, ProjectorError> {
    let scratch = format!("verify_{}", uuid_like());
    // One snapshot holds the live rows and the checkpoints they were committed with.
    let mut live = pool.acquire().await?.detach();
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut live)
        .await?;
    let mut until = BTreeMap::new();
    for &projection in projections {
        let at: Option<(i64, i64)> = sqlx::query_as(
            "SELECT commit_position, prepare_position FROM projections.checkpoints WHERE name = $1",
        )
        .bind(projection.name())
        .fetch_optional(&mut live)
        .await?;
        let at = at.map_or_else(Position::default, |(c, p)| {
            Position::new(to_u64(c), to_u64(p))
        });
        until.insert(projection, at);
    }

    create_copies(pool, projections, &scratch).await?;
    let folded = async {
        let mut replay = Replay::load(store, pool, projections, &scratch, &scratch).await?;
        replay
            .catch_up(Some(&until), &CancellationToken::new(), "verifying")
            .await?;
        let mut differences = Vec::new();
        for &projection in projections {
            for table in projection.tables() {
                let rebuilt = rows(pool.acquire().await?.as_mut(), &scratch, table).await?;
                let current = rows(&mut live, LIVE_SCHEMA, table).await?;
                differences.extend(diff(table, current, rebuilt));
            }
        }
        Ok::<_, ProjectorError>(differences)
    }
    .await;
    live.close().await.ok();
    discard(pool, projections, &scratch, &scratch).await?;
    folded
}

/// Every row of a table as JSON, by id.
async fn rows(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<BTreeMap<i64, String>, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT t.id, row_to_json(t)::text FROM {schema}.{table} t ORDER BY t.id"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

fn diff(
    table: &'static str,
    live: BTreeMap<i64, String>,
    rebuilt: BTreeMap<i64, String>,
) -> Vec<Difference> {
    let mut ids: Vec<i64> = live.keys().chain(rebuilt.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let (live, rebuilt) = (live.get(&id), rebuilt.get(&id));
            (live != rebuilt).then(|| Difference {
                table,
                id,
                live: live.cloned(),
                rebuilt: rebuilt.cloned(),
            })
        })
        .collect()
}

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
        sqlx::query("DELETE FROM projections.checkpoints WHERE name = $1")
            .bind(copy_name(*projection, suffix))
            .execute(pool)
            .await?;
    }
    Ok(())
}

fn copy_name(projection: Projection, suffix: &str) -> String {
    format!("{}@{suffix}", projection.name())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}{:x}", nanos.as_nanos(), std::process::id())
}

/// Events of one page, decoded.
type Page = Vec<(RecordedEvent, DomainEvent)>;

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
        let mut prefixes: Vec<String> = self
            .projections
            .iter()
            .flat_map(|p| p.filter().stream_prefixes().to_vec())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        Filter::prefixes(prefixes)
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
                let page = page.and_then(|page| page.into_iter().map(decode_owned).collect());
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

    async fn apply_page(
        &mut self,
        decoded: &Page,
        until: Option<&BTreeMap<Projection, Position>>,
    ) -> Result<(), ProjectorError> {
        let mut tx = self.pool.begin().await?;
        // Losing the last commits in a server crash is harmless here: the copy's checkpoint is
        // lost with its rows, and the replay simply redoes them.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        for &projection in &self.projections {
            let from = self.at[&projection];
            let limit = until.and_then(|u| u.get(&projection).copied());
            let filter = projection.filter();
            let mut to = from;
            let mut events = Vec::new();
            for (recorded, event) in decoded {
                let in_range = recorded.position > from
                    && limit.is_none_or(|limit| recorded.position <= limit);
                if in_range && filter.matches(&recorded.stream) {
                    events.push(event);
                    to = recorded.position;
                }
            }
            if to == from {
                continue;
            }
            projection
                .apply(&mut tx, &self.schema, &events, true)
                .await?;
            checkpoint::advance(&mut tx, &copy_name(projection, &self.suffix), from, to).await?;
            self.at.insert(projection, to);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Swaps a caught-up copy in for the live tables; returns how long queries on them waited.
    async fn swap(&mut self, projection: Projection) -> Result<Duration, ProjectorError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // EXCLUSIVE stops the live projector writing these tables but lets queries read them.
        // (ACCESS EXCLUSIVE would draw a transaction id at once, and the reads below wait for
        // older writers, this transaction included, to finish.)
        for table in projection.tables() {
            sqlx::query(&format!(
                "LOCK TABLE {LIVE_SCHEMA}.{table} IN EXCLUSIVE MODE"
            ))
            .execute(&mut *tx)
            .await?;
        }
        // Bring the copy up to where the live model stands; nothing can move it meanwhile.
        // Read before this transaction writes anything.
        let live: Option<(i64, i64)> = sqlx::query_as(
            "SELECT commit_position, prepare_position FROM projections.checkpoints WHERE name = $1",
        )
        .bind(projection.name())
        .fetch_optional(&mut *tx)
        .await?;
        let live = live.map_or_else(Position::default, |(c, p)| {
            Position::new(to_u64(c), to_u64(p))
        });
        let copy = self.at[&projection];
        if live > copy {
            let missing = self.read_between(projection, copy, live).await?;
            let decoded = missing.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            let events: Vec<&DomainEvent> = decoded.iter().collect();
            projection
                .apply(&mut tx, &self.schema, &events, true)
                .await?;
        }
        let target = live.max(copy);
        // From the first ALTER to the commit, queries on these tables wait.
        let blocking = Instant::now();
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {RETIRED_SCHEMA}"))
            .execute(&mut *tx)
            .await?;
        for table in projection.tables() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {RETIRED_SCHEMA}.{table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "ALTER TABLE {LIVE_SCHEMA}.{table} SET SCHEMA {RETIRED_SCHEMA}"
            ))
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "ALTER TABLE {}.{table} SET SCHEMA {LIVE_SCHEMA}",
                self.schema
            ))
            .execute(&mut *tx)
            .await?;
        }
        // Only forward: a live batch that touched none of these tables may have moved it on.
        sqlx::query(
            "INSERT INTO projections.checkpoints (name, commit_position, prepare_position) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET commit_position = excluded.commit_position,
                 prepare_position = excluded.prepare_position, updated_at = now()
             WHERE (projections.checkpoints.commit_position, projections.checkpoints.prepare_position)
                 < (excluded.commit_position, excluded.prepare_position)",
        )
        .bind(projection.name())
        .bind(to_i64(target.commit))
        .bind(to_i64(target.prepare))
        .execute(&mut *tx)
        .await?;
        checkpoint::announce(&mut tx, projection.name(), target).await?;
        sqlx::query("DELETE FROM projections.checkpoints WHERE name = $1")
            .bind(copy_name(projection, &self.suffix))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let blocked = blocking.elapsed();
        for table in projection.tables() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {RETIRED_SCHEMA}.{table}"))
                .execute(&mut *conn)
                .await?;
        }
        Ok(blocked)
    }

    /// Events of `projection` after `from` up to and including `to`.
    async fn read_between(
        &self,
        projection: Projection,
        from: Position,
        to: Position,
    ) -> Result<Vec<RecordedEvent>, ProjectorError> {
        let filter = projection.filter();
        let mut events: Vec<RecordedEvent> = Vec::new();
        let mut after = from;
        loop {
            let page = self.store.read_all(Some(after), &filter, PAGE).await?;
            let full = page.len() == PAGE;
            for event in page {
                if event.position > to {
                    return Ok(events);
                }
                after = event.position;
                events.push(event);
            }
            if !full {
                return Ok(events);
            }
        }
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
