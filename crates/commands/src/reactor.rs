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
use event_store::{EventStore, Filter, Position, RecordedEvent};
use sqlx::PgPool;
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
        Follower::new(Self::NAME, Self::filter())
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
    #[error("event {position} cannot be decoded")]
    Decode {
        position: Position,
        #[source]
        source: domain::DecodeError,
    },
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
        let mut at = checkpoint::load(&self.pool, R::NAME).await?;
        let after = (at != Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, R::filter());
        let mut moved = Instant::now();
        loop {
            let batch = subscription.next_batch(self.settings.batch_size).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(Stop::SubscriptionEnded);
            };
            let mut reacted = false;
            for event in batch {
                if R::REACTS_TO.contains(&event.event_type.as_str()) {
                    self.react(event).await?;
                    reacted = true;
                }
            }
            // Moving the checkpoint is a transaction and a notification to every listener.
            // After a batch that called for nothing it only bounds what a restart reads
            // again, so it waits a while; after a reaction it moves at once, for whoever
            // waits on it.
            if reacted || moved.elapsed() >= CHECKPOINT_EVERY {
                let mut tx = self.pool.begin().await?;
                checkpoint::advance(&mut tx, R::NAME, at, last).await?;
                checkpoint::announce(&mut tx, R::NAME, last).await?;
                tx.commit().await?;
                at = last;
                moved = Instant::now();
            }
        }
    }

    /// Records every command `event` calls for. A refusal is a decision too (the target
    /// was already in the state the command asks for); anything else stops the batch so that
    /// it is tried again from the checkpoint.
    async fn react(&self, event: RecordedEvent) -> Result<(), Stop> {
        let (id, position) = (event.id, event.position);
        let decoded = domain::decode(&event.event_type, &event.metadata, event.data)
            .map_err(|source| Stop::Decode { position, source })?;
        for (part, (key, command)) in (0..).zip(R::react(&decoded)) {
            let cause = Cause {
                event_id: id,
                by: R::NAME,
                part,
            };
            match self.executor.execute_caused(key, command, cause).await {
                Ok(_) => {}
                Err(CommandError::Rejected(refusal)) => {
                    tracing::info!(%position, %refusal, "reaction refused");
                }
                Err(CommandError::Unavailable(e) | CommandError::Failed(e)) => {
                    return Err(Stop::Command(e));
                }
                Err(CommandError::Contention) => return Err(Stop::Contention),
                Err(CommandError::Stopped) => return Err(Stop::Stopped),
            }
            metrics::counter!("reactor_commands_total", "reactor" => R::NAME).increment(1);
        }
        Ok(())
    }
}
