//! Runs commands against aggregates, one stream at a time.
//!
//! Every stream that receives commands gets a worker task in this process. The worker keeps
//! the stream's state in memory, takes whatever commands are queued (up to a batch), decides
//! them one after another against the evolving state, and appends all their events in one
//! append with the expected revision. A hot train therefore costs one append per batch instead
//! of a storm of optimistic retries. Another process writing the same stream still shows up as
//! a conflict: the worker reloads and decides the batch again, a bounded number of times.

use domain::{Decider, DomainEvent, LobbyId, TrainId};
use event_store::{AnyStore, EventStore, ExpectedRevision, NewEvent, Position, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// An aggregate whose events travel as [`DomainEvent`]s, and the streams it lives in.
pub trait Aggregate:
    Decider<
        State: Clone + Send + Sync,
        Command: Clone + Send,
        Event: Clone + Send + Sync + Into<DomainEvent> + TryFrom<DomainEvent>,
        Error: Send,
    > + 'static
{
    /// What names one instance: its stream is `STREAM_PREFIX` followed by the key.
    type Key: std::fmt::Display + Copy + Send + Sync + 'static;
    /// Prefix shared by every stream of this aggregate; subscriptions filter on it.
    const STREAM_PREFIX: &'static str;

    /// The stream that holds the instance named `key`.
    fn stream(key: Self::Key) -> String {
        format!("{}{key}", Self::STREAM_PREFIX)
    }
}

impl Aggregate for domain::Train {
    type Key = TrainId;
    const STREAM_PREFIX: &'static str = TrainId::STREAM_PREFIX;
}

/// Keyed by its train, which makes "one lobby per train" an expected-revision check.
impl Aggregate for domain::Lobby {
    type Key = TrainId;
    const STREAM_PREFIX: &'static str = LobbyId::STREAM_PREFIX;
}

/// The event that caused a command, when a reactor issued it. Its events get ids derived
/// from the cause, and the stream remembers the cause, so a reaction repeated after a crash
/// records nothing twice, on either event store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// The causing event's id.
    pub event_id: Uuid,
    /// The reactor's name: two reactors may react to the same event.
    pub by: &'static str,
}

impl Cause {
    /// The key under which a stream remembers this cause: one per event and reactor.
    fn key(self) -> Uuid {
        Uuid::new_v5(&self.event_id, self.by.as_bytes())
    }

    /// The id of the `index`-th event this cause records: the same on every retry.
    fn event_id(self, index: usize) -> Uuid {
        Uuid::new_v5(&self.key(), &index.to_be_bytes())
    }
}

/// Metadata key of the cause an event was recorded for.
const CAUSATION: &str = "causation_id";

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
        Self::Failed(Arc::new(error))
    }
}

impl<E> CommandError<E> {
    /// A copy for another command of the same batch; refusals are never shared.
    fn share(&self) -> Self {
        match self {
            Self::Unavailable(e) => Self::Unavailable(Arc::clone(e)),
            Self::Failed(e) => Self::Failed(Arc::clone(e)),
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
type Outcome<A> = Result<Decided<<A as Decider>::Event>, CommandError<<A as Decider>::Error>>;

struct Job<A: Aggregate> {
    command: A::Command,
    cause: Option<Cause>,
    reply: oneshot::Sender<Outcome<A>>,
}

/// A stream as its worker decides against it: the state, the revision it was read at, and
/// the causes its events were recorded for.
#[derive(Clone)]
struct Loaded<S> {
    state: S,
    revision: Option<u64>,
    causes: HashSet<Uuid>,
}

/// Live workers by stream, each tagged with a serial number so a retiring worker removes only
/// its own entry.
type Workers<A> = Arc<Mutex<HashMap<String, (u64, mpsc::Sender<Job<A>>)>>>;

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
        self.submit(A::stream(key), command, None).await
    }

    /// Like [`execute`](Self::execute), for a command that `cause` called for. If the stream
    /// already recorded this cause, nothing is decided and no event is returned.
    pub async fn execute_caused(
        &self,
        key: A::Key,
        command: A::Command,
        cause: Cause,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        self.submit(A::stream(key), command, Some(cause)).await
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn submit(
        &self,
        stream: String,
        command: A::Command,
        cause: Option<Cause>,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        let (reply, outcome) = oneshot::channel();
        let mut job = Job {
            command,
            cause,
            reply,
        };
        loop {
            let worker = self.worker(&stream);
            match worker.send(job).await {
                Ok(()) => break,
                // The worker retired between lookup and send; start a new one.
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
                    if workers
                        .get(&stream)
                        .is_some_and(|(_, current)| current.same_channel(&worker))
                    {
                        workers.remove(&stream);
                    }
                }
            }
        }
        outcome.await.unwrap_or(Err(CommandError::Stopped))
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

async fn load<A: Aggregate>(
    store: &AnyStore,
    stream: &str,
) -> Result<Loaded<A::State>, CommandError<A::Error>> {
    let recorded = store.read_stream(stream).await?;
    let mut loaded = Loaded {
        state: A::State::default(),
        revision: recorded.last().map(|e| e.revision),
        causes: HashSet::new(),
    };
    for event in recorded {
        if let Some(cause) = event.metadata.get(CAUSATION).and_then(|c| c.as_str()) {
            loaded.causes.extend(cause.parse::<Uuid>().ok());
        }
        let decoded = domain::decode(&event.event_type, &event.metadata, event.data)?;
        if let Ok(event) = A::Event::try_from(decoded) {
            loaded.state = A::evolve(loaded.state, &event);
        }
    }
    Ok(loaded)
}

/// The events of one command as the log stores them, with ids derived from its cause if it
/// has one.
fn encode<E: Clone + Into<DomainEvent>>(events: &[E], cause: Option<Cause>) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let mut new = NewEvent::from(domain::encode(&event.clone().into()));
            if let Some(cause) = cause {
                new.id = cause.event_id(index);
                if let Some(metadata) = new.metadata.as_object_mut() {
                    metadata.insert(CAUSATION.into(), cause.key().to_string().into());
                }
            }
            new
        })
        .collect()
}

struct Worker<A: Aggregate> {
    serial: u64,
    stream: String,
    store: AnyStore,
    workers: Workers<A>,
    settings: ExecutorSettings,
    /// The stream as of our last read or append.
    cache: Option<Loaded<A::State>>,
}

impl<A: Aggregate> Worker<A> {
    /// Decides batches until idle for a while or until `shutdown`; then it retires and
    /// finishes what was already queued, so in-flight requests still get their answer.
    async fn run(mut self, mut jobs: mpsc::Receiver<Job<A>>, shutdown: CancellationToken) {
        let mut retired = false;
        loop {
            let first = tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                () = tokio::time::sleep(self.settings.idle), if !retired => {
                    retired = self.retire(&mut jobs);
                    continue;
                }
                () = shutdown.cancelled(), if !retired => {
                    retired = self.retire(&mut jobs);
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.settings.max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.process(batch).await;
        }
    }

    /// No new sender can find us, and closing lets us drain what was already queued; a late
    /// sender gets an error and starts a new worker.
    fn retire(&self, jobs: &mut mpsc::Receiver<Job<A>>) -> bool {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        if workers
            .get(&self.stream)
            .is_some_and(|(serial, _)| *serial == self.serial)
        {
            workers.remove(&self.stream);
        }
        drop(workers);
        jobs.close();
        true
    }

    async fn process(&mut self, batch: Vec<Job<A>>) {
        let mut conflicts = 0;
        loop {
            let loaded = match self.cache.take() {
                Some(cached) => cached,
                None => match load::<A>(&self.store, &self.stream).await {
                    Ok(loaded) => loaded,
                    Err(e) => return fail_all(batch, &e),
                },
            };
            // Decide every command against the state its predecessors in the batch left. A
            // command whose cause the stream already recorded was decided before: skip it.
            let mut next = loaded.clone();
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut events = Vec::new();
            let mut new_events = Vec::new();
            for job in &batch {
                if let Some(cause) = job.cause
                    && next.causes.contains(&cause.key())
                {
                    outcomes.push(Ok(0));
                    continue;
                }
                match A::decide(&next.state, job.command.clone()) {
                    Ok(decided) => {
                        for event in &decided {
                            next.state = A::evolve(next.state, event);
                        }
                        if let Some(cause) = job.cause.filter(|_| !decided.is_empty()) {
                            next.causes.insert(cause.key());
                        }
                        outcomes.push(Ok(decided.len()));
                        new_events.extend(encode(&decided, job.cause));
                        events.extend(decided);
                    }
                    Err(refusal) => outcomes.push(Err(refusal)),
                }
            }
            if events.is_empty() {
                self.cache = Some(loaded);
                return reply_all(batch, outcomes, &[], None);
            }
            metrics::histogram!("command_batch_size").record(batch.len() as f64);
            match self
                .store
                .append(
                    &self.stream,
                    ExpectedRevision::after(loaded.revision),
                    new_events,
                )
                .await
            {
                Ok(appended) => {
                    next.revision = Some(appended.revision);
                    self.cache = Some(next);
                    return reply_all(batch, outcomes, &events, Some(appended.position));
                }
                Err(e) if e.is_conflict() && conflicts < self.settings.retries => {
                    // Another process wrote first: reload and decide again.
                    conflicts += 1;
                    metrics::counter!("command_conflicts_total").increment(1);
                    tracing::debug!(attempt = conflicts, "conflict; deciding the batch again");
                }
                Err(e) if e.is_conflict() => return fail_all(batch, &CommandError::Contention),
                // The outcome is unknown (e.g. a lost connection): reload before the next batch.
                Err(e) => return fail_all(batch, &CommandError::from(e)),
            }
        }
    }
}

fn reply_all<A: Aggregate>(
    batch: Vec<Job<A>>,
    outcomes: Vec<Result<usize, A::Error>>,
    events: &[A::Event],
    position: Option<Position>,
) {
    let mut events = events.iter();
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let reply = match outcome {
            Ok(count) => {
                let own: Vec<A::Event> = events.by_ref().take(count).cloned().collect();
                let position = if own.is_empty() { None } else { position };
                Ok(Decided {
                    events: own,
                    position,
                })
            }
            Err(refusal) => Err(CommandError::Rejected(refusal)),
        };
        // The caller may have gone away; its command stands regardless.
        let _ = job.reply.send(reply);
    }
}

fn fail_all<A: Aggregate>(batch: Vec<Job<A>>, error: &CommandError<A::Error>) {
    for job in batch {
        let _ = job.reply.send(Err(error.share()));
    }
}
