//! The write-side engine every command-taking service shares: the [`Executor`] that decides
//! commands against aggregates one stream at a time, the [`Aggregate`] trait that names an
//! aggregate's streams, id allocation, read your writes ([`Freshness`]), and [`reactor`]s,
//! the checkpointed runners that turn events into commands.
//!
//! It depends on the domain and the event store only, never on a read-side crate.

mod aggregate;
mod cause;
mod executor;
mod freshness;
pub mod ids;
pub mod reactor;
mod worker;

pub use aggregate::Aggregate;
pub use cause::{ACTOR, Cause, Origin};
pub use event_store::checkpoint::Follower;
pub use executor::{CommandError, Current, Decided, Executor, ExecutorSettings, SharedError};
pub use freshness::Freshness;
pub use ids::{Ids, IdsError};
pub use reactor::Reactor;

use sqlx::PgPool;

/// This crate's migrations (the id sequences). Several crates migrate the same database with
/// version numbers that never collide, so each ignores the others' entries in the history.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or upgrades the id sequences, for every role that allocates ids.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}
