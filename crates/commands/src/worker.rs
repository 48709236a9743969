//! The worker of one stream: it keeps the stream's state in memory, decides whatever
//! commands are queued (up to a batch) one after another against the evolving state, and
//! appends all their events in one append with the expected revision.

use crate::Aggregate;
use crate::cause;
use crate::executor::{
    CommandError, Current, Decide, Decided, ExecutorSettings, Job, Loaded, Read, Workers, catch_up,
    load,
};
use event_store::{AnyStore, EventStore, ExpectedRevision, Position};
use std::sync::PoisonError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) struct Worker<A: Aggregate> {
    pub serial: u64,
    pub stream: String,
    pub store: AnyStore,
    pub workers: Workers<A>,
    pub settings: ExecutorSettings,
    /// The stream as of our last read or append.
    pub cache: Option<Loaded<A::State>>,
}

impl<A: Aggregate> Worker<A> {
    /// Decides batches until idle for a while or until `shutdown`; then it retires and
    /// finishes what was already queued, so in-flight requests still get their answer.
    pub async fn run(mut self, mut jobs: mpsc::Receiver<Job<A>>, shutdown: CancellationToken) {
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

    /// Decides the batch's commands and records their events, then tells its readers the
    /// state: as the append left it, or, when nothing was appended, as the stream holds it.
    async fn process(&mut self, jobs: Vec<Job<A>>) {
        let (mut batch, mut reads) = (Vec::new(), Vec::new());
        for job in jobs {
            match job {
                Job::Decide(decide) => batch.push(decide),
                Job::Read(reply) => reads.push(reply),
            }
        }
        let mut conflicts = 0;
        // Whether the state decided against was read from the store for this batch, rather
        // than kept from an earlier one.
        let mut fresh = false;
        // A state the stream has moved past since: caught up rather than read again.
        let mut behind = None;
        loop {
            let loaded = match (self.cache.take(), behind.take()) {
                (Some(cached), _) => cached,
                (None, behind) => {
                    let read = match behind {
                        Some(behind) => catch_up::<A>(&self.store, &self.stream, behind).await,
                        None => load::<A>(&self.store, &self.stream).await,
                    };
                    match read {
                        Ok(loaded) => {
                            fresh = true;
                            loaded
                        }
                        Err(e) => return fail_all(batch, reads, &e),
                    }
                }
            };
            // Decide every command against the state its predecessors in the batch left. A
            // command whose cause the stream already recorded was decided before: skip it.
            let mut next = loaded.clone();
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut events = Vec::new();
            let mut new_events = Vec::new();
            for job in &batch {
                if let Some(cause) = job.origin.cause
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
                        if let Some(cause) = job.origin.cause.filter(|_| !decided.is_empty()) {
                            next.causes.insert(cause.key());
                        }
                        outcomes.push(Ok(decided.len()));
                        new_events.extend(cause::encode(&decided, job.origin));
                        events.extend(decided);
                    }
                    Err(refusal) => outcomes.push(Err(refusal)),
                }
            }
            if events.is_empty() {
                if !fresh {
                    // Nothing to append means no expected revision checks the state: another
                    // process may have written since we last read (made the booking this
                    // command cancels, say). A refusal, or a decision that records nothing,
                    // stands only once confirmed against the stream as it is now.
                    if !batch.is_empty() {
                        metrics::counter!("command_refusals_rechecked_total").increment(1);
                    }
                    behind = Some(loaded);
                    continue;
                }
                tell::<A>(reads, &loaded);
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
                    tell::<A>(reads, &next);
                    self.cache = Some(next);
                    return reply_all(batch, outcomes, &events, Some(appended.position));
                }
                Err(e) if e.is_conflict() && conflicts < self.settings.retries => {
                    // Another process wrote first: catch up and decide again.
                    conflicts += 1;
                    behind = Some(loaded);
                    metrics::counter!("command_conflicts_total").increment(1);
                    tracing::debug!(attempt = conflicts, "conflict; deciding the batch again");
                }
                Err(e) if e.is_conflict() => {
                    // The commands give up; their readers still get the stream as it is now,
                    // which the next batch starts from.
                    let reads = match catch_up::<A>(&self.store, &self.stream, loaded).await {
                        Ok(now) => {
                            tell::<A>(reads, &now);
                            self.cache = Some(now);
                            Vec::new()
                        }
                        Err(_) => reads,
                    };
                    return fail_all(batch, reads, &CommandError::Contention);
                }
                // The outcome is unknown (e.g. a lost connection): reload before the next batch.
                Err(e) => return fail_all(batch, reads, &CommandError::from(e)),
            }
        }
    }
}

/// Tells each reader the state `loaded` holds.
fn tell<A: Aggregate>(reads: Vec<oneshot::Sender<Read<A>>>, loaded: &Loaded<A::State>) {
    for reply in reads {
        let _ = reply.send(Ok(Current {
            state: loaded.state.clone(),
            revision: loaded.revision,
        }));
    }
}

fn reply_all<A: Aggregate>(
    batch: Vec<Decide<A>>,
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

fn fail_all<A: Aggregate>(
    batch: Vec<Decide<A>>,
    reads: Vec<oneshot::Sender<Read<A>>>,
    error: &CommandError<A::Error>,
) {
    for job in batch {
        let _ = job.reply.send(Err(error.share()));
    }
    for reply in reads {
        let _ = reply.send(Err(error.share()));
    }
}
