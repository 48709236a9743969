//! Runs commands against aggregates, one stream at a time.
//!
//! Every stream that receives commands gets a worker task in this process. The worker keeps
//! the stream's state in memory, takes whatever commands are queued (up to a batch), decides
//! them one after another against the evolving state, and appends all their events in one
//! append with the expected revision. A hot train therefore costs one append per batch instead
//! of a storm of optimistic retries. Another process writing the same stream still shows up as
//! a conflict: the worker reloads and decides the batch again, a bounded number of times.

use crate::Aggregate;
use crate::cause::{self, Cause, Origin};
use crate::worker::Worker;
use domain::Decider;
use event_store::{AnyStore, EventStore, Position, RecordedEvent, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// What an accepted command recorded.
#[derive(Debug)]
pub struct Decided<E> {
    pub events: Vec<E>,
    /// Where the append that carried the events landed; `None` when nothing was recorded.
    pub position: Option<Position>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    #[error("refused: {0}")]
    Rejected(E),
    #[error("the stream kept changing underneath; gave up after retries")]
    Contention,
    /// The event store cannot be reached; an append's outcome is unknown.
    #[error("event store unavailable")]
    Unavailable(#[source] SharedError),
    /// The stream holds an event this code cannot decode: no command can be decided on it
    /// until a fix (an upcaster, a newer release) is deployed.
    #[error("the stream holds an event that cannot be decoded ({0})")]
    Unreadable(&'static str),
    #[error("command failed")]
    Failed(#[source] SharedError),
    #[error("the command worker stopped")]
    Stopped,
}

/// One failure handed to every command of a batch.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

impl<E> From<StoreError> for CommandError<E> {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable(Arc::new(error)),
            other => Self::Failed(Arc::new(other)),
        }
    }
}

impl<E> From<domain::DecodeError> for CommandError<E> {
    fn from(error: domain::DecodeError) -> Self {
        Self::Unreadable(error.kind())
    }
}

impl<E> CommandError<E> {
    /// A copy for another command of the same batch; refusals are never shared.
    pub(crate) fn share(&self) -> Self {
        match self {
            Self::Unavailable(e) => Self::Unavailable(Arc::clone(e)),
            Self::Failed(e) => Self::Failed(Arc::clone(e)),
            Self::Unreadable(kind) => Self::Unreadable(kind),
            Self::Rejected(_) | Self::Contention | Self::Stopped => Self::Contention,
        }
    }
}

/// Tuning of the per-stream workers.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorSettings {
    /// Attempts after a conflict with another process before giving up.
    pub retries: u32,
    /// Most commands decided into one append.
    pub max_batch: usize,
    /// Commands waiting per stream before callers wait to enqueue.
    pub queue: usize,
    /// How long an idle worker keeps its stream's state before it exits.
    pub idle: Duration,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            retries: 5,
            max_batch: 256,
            queue: 1024,
            idle: Duration::from_secs(30),
        }
    }
}

/// What a command's caller is told.
pub(crate) type Outcome<A> =
    Result<Decided<<A as Decider>::Event>, CommandError<<A as Decider>::Error>>;

/// What a worker is asked.
pub(crate) enum Job<A: Aggregate> {
    Decide(Decide<A>),
    /// The stream's state as it is now.
    Read(oneshot::Sender<Read<A>>),
}

/// A command to decide against the stream, and whom to tell the outcome.
pub(crate) struct Decide<A: Aggregate> {
    pub command: A::Command,
    pub origin: Origin,
    pub reply: oneshot::Sender<Outcome<A>>,
}

/// What a reader of the state is told.
pub(crate) type Read<A> =
    Result<Current<<A as Decider>::State>, CommandError<<A as Decider>::Error>>;

/// An instance's state as its stream holds it now, and the stream's revision then (`None`
/// while it has no events).
#[derive(Debug, Clone)]
pub struct Current<S> {
    pub state: S,
    pub revision: Option<u64>,
}

/// A stream as its worker decides against it: the state, the revision it was read at, and
/// the causes its events were recorded for.
#[derive(Clone)]
pub(crate) struct Loaded<S> {
    pub state: S,
    pub revision: Option<u64>,
    pub causes: HashSet<Uuid>,
}

/// Live workers by stream, each tagged with a serial number so a retiring worker removes only
/// its own entry.
pub(crate) type Workers<A> = Arc<Mutex<HashMap<String, (u64, mpsc::Sender<Job<A>>)>>>;

/// Serialises and batches commands per stream.
pub struct Executor<A: Aggregate> {
    store: AnyStore,
    workers: Workers<A>,
    settings: ExecutorSettings,
    serial: std::sync::atomic::AtomicU64,
    /// The workers' tasks; they retire on `shutdown`, and the service waits for them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl<A: Aggregate> Executor<A> {
    /// Workers are spawned on `tracker`; once `shutdown` is cancelled they finish what is
    /// queued and stop.
    pub fn new(
        store: AnyStore,
        settings: ExecutorSettings,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            workers: Arc::default(),
            settings,
            serial: Default::default(),
            tracker,
            shutdown,
        }
    }

    /// Decides `command` against the instance named `key` and records its events.
    pub async fn execute(
        &self,
        key: A::Key,
        command: A::Command,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        self.submit(A::stream(key), command, Origin::default())
            .await
    }

    /// Like [`execute`](Self::execute), for a command that `cause` called for. If the stream
    /// already recorded this cause, nothing is decided and no event is returned.
    pub async fn execute_caused(
        &self,
        key: A::Key,
        command: A::Command,
        cause: Cause,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        let origin = Origin {
            cause: Some(cause),
            actor: None,
        };
        self.submit(A::stream(key), command, origin).await
    }

    /// Like [`execute`](Self::execute), recording where the command comes from: its cause, if
    /// any (with [`execute_caused`](Self::execute_caused)'s guarantee), and the user who asked.
    pub async fn execute_from(
        &self,
        key: A::Key,
        command: A::Command,
        origin: Origin,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        self.submit(A::stream(key), command, origin).await
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn submit(
        &self,
        stream: String,
        command: A::Command,
        origin: Origin,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        let (reply, outcome) = oneshot::channel();
        self.send(
            &stream,
            Job::Decide(Decide {
                command,
                origin,
                reply,
            }),
        )
        .await;
        outcome.await.unwrap_or(Err(CommandError::Stopped))
    }

    /// The state of the instance named `key` as its stream holds it now, with the stream's
    /// revision. Its worker answers: it reads only the events it lacks (a new worker reads
    /// the stream once), so asking is cheap even on a long, busy stream.
    pub async fn current(&self, key: A::Key) -> Result<Current<A::State>, CommandError<A::Error>> {
        let (reply, current) = oneshot::channel();
        self.send(&A::stream(key), Job::Read(reply)).await;
        current.await.unwrap_or(Err(CommandError::Stopped))
    }

    /// Hands `job` to the worker of `stream`, starting one if there is none.
    async fn send(&self, stream: &str, mut job: Job<A>) {
        loop {
            let worker = self.worker(stream);
            match worker.send(job).await {
                Ok(()) => return,
                // The worker retired between lookup and send; start a new one.
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
                    if workers
                        .get(stream)
                        .is_some_and(|(_, current)| current.same_channel(&worker))
                    {
                        workers.remove(stream);
                    }
                }
            }
        }
    }

    /// Current state of an instance as its worker would decide against it, read fresh.
    pub async fn load(&self, key: A::Key) -> Result<A::State, CommandError<A::Error>> {
        Ok(load::<A>(&self.store, &A::stream(key)).await?.state)
    }

    fn worker(&self, stream: &str) -> mpsc::Sender<Job<A>> {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, worker)) = workers.get(stream) {
            return worker.clone();
        }
        let (sender, receiver) = mpsc::channel(self.settings.queue);
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        workers.insert(stream.to_owned(), (serial, sender.clone()));
        let worker = Worker::<A> {
            serial,
            stream: stream.to_owned(),
            store: self.store.clone(),
            workers: Arc::clone(&self.workers),
            settings: self.settings,
            cache: None,
        };
        self.tracker
            .spawn(worker.run(receiver, self.shutdown.clone()));
        sender
    }
}

pub(crate) async fn load<A: Aggregate>(
    store: &AnyStore,
    stream: &str,
) -> Result<Loaded<A::State>, CommandError<A::Error>> {
    let recorded = store.read_stream(stream).await?;
    let loaded = Loaded {
        state: A::State::default(),
        revision: None,
        causes: HashSet::new(),
    };
    apply::<A>(loaded, recorded)
}

/// `loaded` brought up to the stream as it is now: only the events after its revision are
/// read, so a worker that lost a race on a long stream does not read it all again.
pub(crate) async fn catch_up<A: Aggregate>(
    store: &AnyStore,
    stream: &str,
    loaded: Loaded<A::State>,
) -> Result<Loaded<A::State>, CommandError<A::Error>> {
    let Some(revision) = loaded.revision else {
        return load::<A>(store, stream).await;
    };
    let recorded = store.read_stream_after(stream, revision).await?;
    apply::<A>(loaded, recorded)
}

/// Folds `recorded`, the stream's events after `loaded.revision` in order, into `loaded`.
fn apply<A: Aggregate>(
    mut loaded: Loaded<A::State>,
    recorded: Vec<RecordedEvent>,
) -> Result<Loaded<A::State>, CommandError<A::Error>> {
    for event in recorded {
        loaded.revision = Some(event.revision);
        loaded.causes.extend(cause::recorded(&event));
        let decoded = domain::decode(&event.event_type, &event.metadata, event.data)?;
        if let Ok(event) = A::Event::try_from(decoded) {
            loaded.state = A::evolve(loaded.state, &event);
        }
    }
    Ok(loaded)
}
