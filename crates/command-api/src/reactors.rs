//! The command API's reactors: workflows that span aggregates, each a pure `react` in its own
//! module and one line in [`start`], [`names`] and [`retry`]. They run here because the events
//! they react to are the command API's; each has one active instance across every command API
//! process.

mod cancel_bookings_when_user_erased;
mod close_lobby_when_train_removed;
mod order_steps_on_trains;
mod register_user_when_email_claimed;
mod release_email_when_user_erased;
mod train_answers_to_orders;

pub(crate) use cancel_bookings_when_user_erased::CancelBookingsWhenUserErased;
pub(crate) use close_lobby_when_train_removed::CloseLobbyWhenTrainRemoved;
pub(crate) use order_steps_on_trains::OrderStepsOnTrains;
pub(crate) use register_user_when_email_claimed::RegisterUserWhenEmailClaimed;
pub(crate) use release_email_when_user_erased::ReleaseEmailWhenUserErased;
pub(crate) use train_answers_to_orders::TrainAnswersToOrders;

use commands::reactor::{self, Reactor, RunnerSettings};
use commands::{Aggregate, Executor, ExecutorSettings, Follower};
use domain::{EmailClaim, Lobby, Orders, Train, User};
use event_store::AnyStore;
use event_store::quarantine::{Retried, RetryError};
use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The executors of the aggregates reactions go to; the handlers share them.
#[derive(Clone)]
pub(crate) struct Targets {
    pub trains: Arc<Executor<Train>>,
    pub lobbies: Arc<Executor<Lobby>>,
    pub users: Arc<Executor<User>>,
    pub emails: Arc<Executor<EmailClaim>>,
    pub orders: Arc<Executor<Orders>>,
}

impl Targets {
    pub fn new(
        store: &AnyStore,
        settings: ExecutorSettings,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Self {
        Self {
            trains: executor(store, settings, tracker, shutdown),
            lobbies: executor(store, settings, tracker, shutdown),
            users: executor(store, settings, tracker, shutdown),
            emails: executor(store, settings, tracker, shutdown),
            orders: executor(store, settings, tracker, shutdown),
        }
    }
}

fn executor<A: Aggregate>(
    store: &AnyStore,
    settings: ExecutorSettings,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Arc<Executor<A>> {
    Arc::new(Executor::new(
        store.clone(),
        settings,
        tracker.clone(),
        shutdown.clone(),
    ))
}

/// What starting a reactor takes.
pub(crate) struct Context<'a> {
    pub store: &'a AnyStore,
    pub pool: &'a PgPool,
    pub targets: Targets,
    pub settings: RunnerSettings,
    pub tracker: &'a TaskTracker,
    pub shutdown: &'a CancellationToken,
}

/// Starts every reactor; returns them as read-your-writes followers.
pub(crate) fn start(context: Context<'_>) -> Vec<Follower> {
    let targets = &context.targets;
    vec![
        spawn::<CloseLobbyWhenTrainRemoved>(&context, &targets.lobbies),
        spawn::<RegisterUserWhenEmailClaimed>(&context, &targets.users),
        spawn::<ReleaseEmailWhenUserErased>(&context, &targets.emails),
        spawn::<CancelBookingsWhenUserErased>(&context, &targets.trains),
        spawn::<OrderStepsOnTrains>(&context, &targets.trains),
        spawn::<TrainAnswersToOrders>(&context, &targets.orders),
    ]
}

/// The names of every reactor, as their checkpoints and quarantine know them.
pub fn names() -> Vec<String> {
    [
        CloseLobbyWhenTrainRemoved::NAME,
        RegisterUserWhenEmailClaimed::NAME,
        ReleaseEmailWhenUserErased::NAME,
        CancelBookingsWhenUserErased::NAME,
        OrderStepsOnTrains::NAME,
        TrainAnswersToOrders::NAME,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs every reactor's quarantined events again (`booking quarantine retry`), with command
/// workers of its own that stop when it is done.
pub async fn retry(
    store: &AnyStore,
    pool: &PgPool,
) -> Result<Vec<(&'static str, Retried)>, RetryError> {
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let targets = Targets::new(store, ExecutorSettings::default(), &tracker, &shutdown);
    let retried = async {
        Ok(vec![
            (
                CloseLobbyWhenTrainRemoved::NAME,
                reactor::retry::<CloseLobbyWhenTrainRemoved, _>(store, pool, targets.lobbies)
                    .await?,
            ),
            (
                RegisterUserWhenEmailClaimed::NAME,
                reactor::retry::<RegisterUserWhenEmailClaimed, _>(store, pool, targets.users)
                    .await?,
            ),
            (
                ReleaseEmailWhenUserErased::NAME,
                reactor::retry::<ReleaseEmailWhenUserErased, _>(store, pool, targets.emails)
                    .await?,
            ),
            (
                CancelBookingsWhenUserErased::NAME,
                reactor::retry::<CancelBookingsWhenUserErased, _>(
                    store,
                    pool,
                    Arc::clone(&targets.trains),
                )
                .await?,
            ),
            (
                OrderStepsOnTrains::NAME,
                reactor::retry::<OrderStepsOnTrains, _>(store, pool, targets.trains).await?,
            ),
            (
                TrainAnswersToOrders::NAME,
                reactor::retry::<TrainAnswersToOrders, _>(store, pool, targets.orders).await?,
            ),
        ])
    }
    .await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    retried
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
