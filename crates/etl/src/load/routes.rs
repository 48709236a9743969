//! `dim_route`: every route named by a train version, once.
//!
//! Routes are written just before the versions that name them (by `trains`), since
//! `dim_train` resolves its `route_key` by joining on the route's name.

use super::At;
use super::trains::Version;
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// Adds the routes of `versions` that are new; existing ones keep their key. Only
/// `trains::write` calls it, once it knows the batch has versions.
pub(super) async fn write(
    tx: &mut PgConnection,
    versions: &BTreeMap<(i64, At), Version>,
) -> Result<(), sqlx::Error> {
    let routes: Vec<&str> = versions
        .values()
        .map(|v| v.route.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    sqlx::query(
        "INSERT INTO warehouse.dim_route (route) SELECT unnest($1::text[])
         ON CONFLICT (route) DO NOTHING",
    )
    .bind(&routes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
