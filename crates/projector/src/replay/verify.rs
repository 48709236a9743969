//! Verifying read models: fold the log into a scratch copy up to the live checkpoints and
//! diff it with the live rows. Apart from `rebuild` because it never writes the live models.

use super::{Replay, create_copies, discard};
use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use event_store::checkpoint::to_u64;
use event_store::quarantine::{self, Entry};
use event_store::{EventStore, Position};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// A row that differs between the live read model and a fresh fold of the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Difference {
    pub table: &'static str,
    /// The row's primary key, its columns joined with `/` (`7`, or `7/1-3` for a seat).
    pub key: String,
    /// The row as JSON; `None` when missing on that side.
    pub live: Option<String>,
    pub rebuilt: Option<String>,
}

/// What verify found.
#[derive(Debug)]
pub struct Verification {
    /// Rows that differ between the live models and the fold of the log.
    pub differences: Vec<Difference>,
    /// Every event in the read-model database's quarantine (projections, reactors and the
    /// warehouse feed), as of the snapshot compared. A replay sets aside the same events, so
    /// they are not differences, but each still waits for an operator.
    pub quarantined: Vec<Entry>,
}

/// Folds the log into a scratch copy up to where the live models stand and returns every row
/// that differs, with the quarantined events. Read-only with respect to the live models.
pub async fn verify<S: EventStore>(
    store: &S,
    pool: &PgPool,
    projections: &[Projection],
) -> Result<Verification, ProjectorError> {
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
    let quarantined = quarantine::list(&mut live, quarantine::READ_MODELS).await?;

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
    Ok(Verification {
        differences: folded?,
        quarantined,
    })
}

/// Every row of a table as JSON, by its primary key (whatever columns the table's primary key
/// has, read from the catalog, so a table keyed by a seat or a hold id is compared as well as
/// one keyed by `id`).
async fn rows(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = to_regclass($1) AND i.indisprimary
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(format!("{schema}.{table}"))
    .fetch_all(&mut *conn)
    .await?;
    let key = columns
        .iter()
        .map(|column| format!("t.{column}::text"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT concat_ws('/', {key}), row_to_json(t)::text FROM {schema}.{table} t"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

fn diff(
    table: &'static str,
    live: BTreeMap<String, String>,
    rebuilt: BTreeMap<String, String>,
) -> Vec<Difference> {
    let mut keys: Vec<&String> = live.keys().chain(rebuilt.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (live, rebuilt) = (live.get(key), rebuilt.get(key));
            (live != rebuilt).then(|| Difference {
                table,
                key: key.clone(),
                live: live.cloned(),
                rebuilt: rebuilt.cloned(),
            })
        })
        .collect()
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}{:x}", nanos.as_nanos(), std::process::id())
}
