//! Runs commands against aggregates, one stream at a time.
//!
//! Every stream that receives commands gets a worker task in this process. The worker keeps
//! the stream's state in memory, takes whatever commands are queued (up to a batch), decides
//! them one after another against the evolving state, and appends all their events in one
//! append with the expected revision. A hot train therefore costs one append per batch instead
//! of a storm of optimistic retries. Another process writing the same stream still shows up as
//! a conflict: the worker reloads and decides the batch again, a bounded number of times.

use domain::{Decider, DomainEvent};
use event_store::{AnyStore, EventStore, ExpectedRevision, Position, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// An aggregate whose events travel as [`DomainEvent`]s.
pub trait Aggregate:
    Decider<
        State: Clone + Send + Sync,
        Command: Clone + Send,
        Event: Clone + Send + Sync,
        Error: Send,
    > + 'static
{
    fn to_domain(event: &Self::Event) -> DomainEvent;
    fn from_domain(event: DomainEvent) -> Option<Self::Event>;
}

impl Aggregate for domain::Train {
    fn to_domain(event: &Self::Event) -> DomainEvent {
        DomainEvent::Train(event.clone())
    }
    fn from_domain(event: DomainEvent) -> Option<Self::Event> {
        match event {
            DomainEvent::Train(event) => Some(event),
            DomainEvent::Lobby(_) => None,
        }
    }
}

impl Aggregate for domain::Lobby {
    fn to_domain(event: &Self::Event) -> DomainEvent {
        DomainEvent::Lobby(event.clone())
    }
    fn from_domain(event: DomainEvent) -> Option<Self::Event> {
        match event {
            DomainEvent::Lobby(event) => Some(event),
            DomainEvent::Train(_) => None,
        }
    }
}

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

impl<E> From<projector::ProjectorError> for CommandError<E> {
    fn from(error: projector::ProjectorError) -> Self {
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
    reply: oneshot::Sender<Outcome<A>>,
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
}

impl<A: Aggregate> Executor<A> {
    pub fn new(store: AnyStore, settings: ExecutorSettings) -> Self {
        Self {
            store,
            workers: Arc::default(),
            settings,
            serial: Default::default(),
        }
    }

    /// Decides `command` against `stream` and records its events.
    #[tracing::instrument(skip_all, fields(stream = %stream))]
    pub async fn execute(
        &self,
        stream: String,
        command: A::Command,
    ) -> Result<Decided<A::Event>, CommandError<A::Error>> {
        let (reply, outcome) = oneshot::channel();
        let mut job = Job { command, reply };
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

    /// Current state of a stream as its worker would decide against it, read fresh.
    pub async fn load(
        &self,
        stream: &str,
    ) -> Result<(A::State, Option<u64>), CommandError<A::Error>> {
        load::<A>(&self.store, stream).await
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
        tokio::spawn(worker.run(receiver));
        sender
    }
}

async fn load<A: Aggregate>(
    store: &AnyStore,
    stream: &str,
) -> Result<(A::State, Option<u64>), CommandError<A::Error>> {
    let recorded = store.read_stream(stream).await?;
    let revision = recorded.last().map(|e| e.revision);
    let mut state = A::State::default();
    for event in &recorded {
        if let Some(event) = A::from_domain(projector::decode(event)?) {
            state = A::evolve(state, &event);
        }
    }
    Ok((state, revision))
}

struct Worker<A: Aggregate> {
    serial: u64,
    stream: String,
    store: AnyStore,
    workers: Workers<A>,
    settings: ExecutorSettings,
    /// The stream's state and revision as of our last read or append.
    cache: Option<(A::State, Option<u64>)>,
}

impl<A: Aggregate> Worker<A> {
    async fn run(mut self, mut jobs: mpsc::Receiver<Job<A>>) {
        loop {
            let first = match tokio::time::timeout(self.settings.idle, jobs.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(_idle) => {
                    // Retire: no new sender can find us, and closing lets us drain what was
                    // already queued; a late sender gets an error and starts a new worker.
                    let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
                    if workers
                        .get(&self.stream)
                        .is_some_and(|(serial, _)| *serial == self.serial)
                    {
                        workers.remove(&self.stream);
                    }
                    drop(workers);
                    jobs.close();
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

    async fn process(&mut self, batch: Vec<Job<A>>) {
        let mut conflicts = 0;
        loop {
            let (state, revision) = match self.cache.take() {
                Some(cached) => cached,
                None => match load::<A>(&self.store, &self.stream).await {
                    Ok(loaded) => loaded,
                    Err(e) => return fail_all(batch, &e),
                },
            };
            // Decide every command against the state its predecessors in the batch left.
            let mut next = state.clone();
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut events = Vec::new();
            for job in &batch {
                match A::decide(&next, job.command.clone()) {
                    Ok(decided) => {
                        for event in &decided {
                            next = A::evolve(next, event);
                        }
                        outcomes.push(Ok(decided.len()));
                        events.extend(decided);
                    }
                    Err(refusal) => outcomes.push(Err(refusal)),
                }
            }
            if events.is_empty() {
                self.cache = Some((state, revision));
                return reply_all(batch, outcomes, &[], None);
            }
            metrics::histogram!("command_batch_size").record(batch.len() as f64);
            let new_events = events
                .iter()
                .map(|e| projector::encode(&A::to_domain(e)))
                .collect();
            match self
                .store
                .append(&self.stream, ExpectedRevision::after(revision), new_events)
                .await
            {
                Ok(appended) => {
                    self.cache = Some((next, Some(appended.revision)));
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
