//! Rebuilding read models by replay, then swapping each caught-up copy in for the live tables.
//! Apart from `verify` because only a rebuild writes the live models, in the swap.

use super::{NEXT_SCHEMA, PAGE, Replay, copy_name, copy_quarantine, create_copies, discard};
use crate::sorted::{self, Decoded};
use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use event_store::checkpoint::{self, to_i64, to_u64};
use event_store::quarantine::{self, Quarantine};
use event_store::{EventStore, Position, RecordedEvent};
use sqlx::{Connection, PgConnection, PgPool};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RETIRED_SCHEMA: &str = "read_models_retired";

/// What a rebuild did.
#[derive(Debug)]
pub struct RebuildReport {
    pub events: u64,
    pub elapsed: Duration,
    /// How long each swap kept queries on its tables waiting.
    pub swaps: Vec<(Projection, Duration)>,
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

impl<S: EventStore> Replay<'_, S> {
    /// Swaps a caught-up copy in for the live tables; returns how long queries on them waited.
    async fn swap(&mut self, projection: Projection) -> Result<Duration, ProjectorError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // The live quarantine's lock comes before the tables', in the order the live runner
        // takes them, so the two never wait on each other in a circle.
        let copy_name = copy_name(projection, &self.suffix);
        let copy_quarantine = copy_quarantine(&copy_name);
        let live_quarantine = Quarantine::new(quarantine::READ_MODELS, projection.name());
        live_quarantine.lock(&mut tx).await?;
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
            let decoded: Vec<Decoded> = missing.iter().map(sorted::decode).collect();
            let events: Vec<_> = missing.iter().zip(&decoded).collect();
            let mut sorting = copy_quarantine.sort(&mut tx).await?;
            sorted::apply_each(
                projection,
                &mut tx,
                &self.schema,
                &events,
                &mut sorting,
                true,
            )
            .await?;
            copy_quarantine.record(&mut tx, sorting).await?;
        }
        live_quarantine.take_over(&mut tx, &copy_quarantine).await?;
        for table in projection.tables() {
            let copy_table = format!("{}.{table}", self.schema);
            copy_grants(&mut tx, &format!("{LIVE_SCHEMA}.{table}"), &copy_table).await?;
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
            .bind(&copy_name)
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

/// Grants `copy` whatever rights others hold on `live`. The services read and write the read
/// models as database roles of their own (deploy/grants), and must find the table swapped in
/// as they left the one it replaces; its owner's rights come with the ownership. `copy` is
/// one of this module's own names, never input.
async fn copy_grants(conn: &mut PgConnection, live: &str, copy: &str) -> Result<(), sqlx::Error> {
    let grants: Vec<String> = sqlx::query_scalar(
        "SELECT format('GRANT %s ON %s TO %s', a.privilege_type, $2::text,
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END)
         FROM pg_class c
         CROSS JOIN LATERAL aclexplode(c.relacl) AS a
         LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.oid = $1::regclass AND a.grantee <> c.relowner",
    )
    .bind(live)
    .bind(copy)
    .fetch_all(&mut *conn)
    .await?;
    for grant in grants {
        sqlx::query(&grant).execute(&mut *conn).await?;
    }
    Ok(())
}
