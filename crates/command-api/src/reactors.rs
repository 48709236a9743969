//! The command API's reactors: workflows that span aggregates, each a pure `react` in its own
//! module and one line in [`start`]. They run here because the events they react to are the
//! command API's; each has one active instance across every command API process.

mod close_lobby_when_train_removed;

pub(crate) use close_lobby_when_train_removed::CloseLobbyWhenTrainRemoved;

use commands::reactor::{self, Reactor, RunnerSettings};
use commands::{Executor, ExecutorSettings, Follower};
use domain::Lobby;
use event_store::AnyStore;
use event_store::quarantine::{Retried, RetryError};
use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What starting a reactor takes.
pub(crate) struct Context<'a> {
    pub store: &'a AnyStore,
    pub pool: &'a PgPool,
    pub lobbies: Arc<Executor<Lobby>>,
    pub settings: RunnerSettings,
    pub tracker: &'a TaskTracker,
    pub shutdown: &'a CancellationToken,
}

/// Starts every reactor; returns them as read-your-writes followers.
pub(crate) fn start(context: Context<'_>) -> Vec<Follower> {
    vec![spawn::<CloseLobbyWhenTrainRemoved>(
        &context,
        &context.lobbies,
    )]
}

/// The names of every reactor, as their checkpoints and quarantine know them.
pub fn names() -> Vec<String> {
    vec![CloseLobbyWhenTrainRemoved::NAME.to_owned()]
}

/// Runs every reactor's quarantined events again (`booking quarantine retry`), with command
/// workers of its own that stop when it is done.
pub async fn retry(
    store: &AnyStore,
    pool: &PgPool,
) -> Result<Vec<(&'static str, Retried)>, RetryError> {
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let lobbies = Arc::new(Executor::<Lobby>::new(
        store.clone(),
        ExecutorSettings::default(),
        tracker.clone(),
        shutdown.clone(),
    ));
    let retried = reactor::retry::<CloseLobbyWhenTrainRemoved, _>(store, pool, lobbies).await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(vec![(CloseLobbyWhenTrainRemoved::NAME, retried?)])
}

fn spawn<R: Reactor>(context: &Context<'_>, executor: &Arc<Executor<R::Target>>) -> Follower {
    reactor::spawn::<R, _>(
        context.store.clone(),
        context.pool.clone(),
        Arc::clone(executor),
        context.settings,
        context.tracker,
        context.shutdown.clone(),
    );
    R::follower()
}
