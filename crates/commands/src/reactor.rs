//! Reactors: checkpointed runners that turn events into commands, durably.
//!
//! A [`Reactor`] is pure: `react` maps an event to the commands it calls for. The runner here
//! owns everything else, as the projector's runner does for projections: one active instance
//! per reactor (a session advisory lock; a standby takes over when it dies), a checkpoint in
//! `projections.checkpoints` that moves only after every command of a batch is recorded and
//! that is announced like a projection's (so a handler can wait for a reaction), and retries
//! with backoff. A crash between a command and the checkpoint repeats the reaction; each
//! command carries a [`Cause`] derived from its event, so the repeat records nothing twice.

use crate::{Aggregate, Cause, CommandError, Executor, Follower};
use domain::DomainEvent;
use event_store::checkpoint;
use event_store::quarantine::{self, Failure, Quarantine, Reapply, Retried, RetryError};
use event_store::{EventStore, Filter, RecordedEvent};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A command a reaction calls for, with the key of the instance it goes to.
pub type Reaction<A> = (<A as Aggregate>::Key, <A as domain::Decider>::Command);

/// Turns events into commands on one aggregate.
pub trait Reactor: Send + Sync + 'static {
    /// The aggregate its commands go to.
    type Target: Aggregate;

    /// Stable name: its checkpoint, its leader lock and the ids it derives depend on it.
    const NAME: &'static str;

    /// The streams whose events it reacts to.
    fn filter() -> Filter;

    /// The event types `react` answers; other events of those streams are passed over
    /// without being decoded, which keeps a reactor cheap on a busy stream.
    const REACTS_TO: &'static [&'static str];

    /// The commands `event` calls for, each with the instance it goes to. Pure: the time and
    /// everything else a command needs come from the event.
    fn react(event: &DomainEvent) -> Vec<Reaction<Self::Target>>;

    /// How read-your-writes waits for it.
    fn follower() -> Follower {
        Follower::reacting(Self::NAME, Self::filter(), Self::REACTS_TO)
    }
}

/// Longest a reactor's checkpoint stays behind events that called for nothing.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Tuning shared by every reactor of a process.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Most events read per batch.
    pub batch_size: usize,
    /// How often a standby instance tries to take over.
    pub standby_poll: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            standby_poll: Duration::from_secs(1),
        }
    }
}

/// Why a reactor's run stopped; it is restarted from its checkpoint.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("event store")]
    Store(#[from] event_store::StoreError),
    #[error("checkpoint")]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("a command could not be recorded")]
    Command(#[source] crate::SharedError),
    #[error("the target kept changing underneath")]
    Contention,
    #[error("the command worker stopped")]
    Stopped,
    #[error("the subscription ended")]
    SubscriptionEnded,
}

/// Runs `R` on `tracker` until `shutdown`, its commands going through `executor`.
pub fn spawn<R: Reactor, S: EventStore>(
    store: S,
    pool: PgPool,
    executor: Arc<Executor<R::Target>>,
    settings: RunnerSettings,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let runner = Runner::<R, S> {
        store,
        pool,
        executor,
        settings,
        reactor: std::marker::PhantomData,
    };
    tracker.spawn(runner.run(shutdown));
}

struct Runner<R: Reactor, S> {
    store: S,
    pool: PgPool,
    executor: Arc<Executor<R::Target>>,
    settings: RunnerSettings,
    reactor: std::marker::PhantomData<fn() -> R>,
}

impl<R: Reactor, S: EventStore> Runner<R, S> {
    #[tracing::instrument(skip_all, fields(reactor = R::NAME))]
    async fn run(self, shutdown: CancellationToken) {
        let key = format!("reactor:{}", R::NAME);
        checkpoint::lead(
            &self.pool,
            &key,
            self.settings.standby_poll,
            &shutdown,
            || self.follow(),
        )
        .await;
    }

    /// Follows the log from the checkpoint; returns only when it has to stop.
    async fn follow(&self) -> Stop {
        match self.follow_batches().await {
            Ok(never) => match never {},
            Err(stop) => stop,
        }
    }

    async fn follow_batches(&self) -> Result<std::convert::Infallible, Stop> {
        let quarantine = Quarantine::new(quarantine::READ_MODELS, R::NAME);
        let mut at = checkpoint::load(&self.pool, R::NAME).await?;
        let after = (at != event_store::Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, R::filter());
        let mut moved = Instant::now();
        loop {
            let batch = subscription.next_batch(self.settings.batch_size).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(Stop::SubscriptionEnded);
            };
            let reacting: Vec<RecordedEvent> = batch
                .into_iter()
                .filter(|event| R::REACTS_TO.contains(&event.event_type.as_str()))
                .collect();
            // Moving the checkpoint is a transaction and a notification to every listener.
            // After a batch that called for nothing it only bounds what a restart reads
            // again, so it waits a while; after a reaction it moves at once, for whoever
            // waits on it.
            if reacting.is_empty() && moved.elapsed() < CHECKPOINT_EVERY {
                continue;
            }
            // The transaction holds the reactor's quarantine lock from sorting to the
            // checkpoint, so a retry never races the batch.
            let mut tx = self.pool.begin().await?;
            let mut sorting = quarantine.sort(&mut tx).await?;
            for event in reacting {
                if sorting.queue_if_blocked(&event) {
                    continue;
                }
                if let Err(kind) = self.react(&event).await? {
                    sorting.hold(&event, kind);
                }
            }
            quarantine.record(&mut tx, sorting).await?;
            checkpoint::advance(&mut tx, R::NAME, at, last).await?;
            checkpoint::announce(&mut tx, R::NAME, last).await?;
            tx.commit().await?;
            at = last;
            moved = Instant::now();
        }
    }

    /// Records every command `event` calls for. A refusal is a decision too (the target
    /// was already in the state the command asks for). An event that cannot be decoded, or
    /// whose target holds one, is poison: `Ok(Err(kind))`, to be set aside. Anything else
    /// stops the batch so that it is tried again from the checkpoint.
    async fn react(&self, event: &RecordedEvent) -> Result<Result<(), &'static str>, Stop> {
        let position = event.position;
        let decoded = match domain::decode(&event.event_type, &event.metadata, event.data.clone()) {
            Ok(decoded) => decoded,
            Err(e) => return Ok(Err(e.kind())),
        };
        for (part, (key, command)) in (0..).zip(R::react(&decoded)) {
            let cause = Cause {
                event_id: event.id,
                by: R::NAME,
                part,
            };
            match self.executor.execute_caused(key, command, cause).await {
                Ok(_) => {}
                Err(CommandError::Rejected(refusal)) => {
                    tracing::info!(%position, %refusal, "reaction refused");
                }
                Err(CommandError::Unreadable(_)) => return Ok(Err(TARGET_UNREADABLE)),
                Err(CommandError::Unavailable(e) | CommandError::Failed(e)) => {
                    return Err(Stop::Command(e));
                }
                Err(CommandError::Contention) => return Err(Stop::Contention),
                Err(CommandError::Stopped) => return Err(Stop::Stopped),
            }
            metrics::counter!("reactor_commands_total", "reactor" => R::NAME).increment(1);
        }
        Ok(Ok(()))
    }
}

/// The kind of a reaction whose target's stream holds an event that cannot be decoded.
const TARGET_UNREADABLE: &str = "target_unreadable";

impl<R: Reactor, S: EventStore> Reapply for Runner<R, S> {
    async fn reapply(&self, _tx: &mut PgConnection, event: RecordedEvent) -> Result<(), Failure> {
        if !R::REACTS_TO.contains(&event.event_type.as_str()) {
            return Ok(());
        }
        match self.react(&event).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(kind)) => Err(Failure::Poison(kind.to_owned())),
            Err(stop) => Err(Failure::Transient(Box::new(stop))),
        }
    }
}

/// Runs `R`'s quarantined events again, in order per stream (`booking quarantine retry`).
/// Each command carries its cause, so one that was recorded before is not recorded again.
pub async fn retry<R: Reactor, S: EventStore>(
    store: &S,
    pool: &PgPool,
    executor: Arc<Executor<R::Target>>,
) -> Result<Retried, RetryError> {
    let runner = Runner::<R, S> {
        store: store.clone(),
        pool: pool.clone(),
        executor,
        settings: RunnerSettings::default(),
        reactor: std::marker::PhantomData,
    };
    Quarantine::new(quarantine::READ_MODELS, R::NAME)
        .retry(pool, store, &runner)
        .await
}
