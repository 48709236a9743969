//! Running the projections of one process: one reader of the log for all of them, and one
//! transaction per batch holding every projection's rows and checkpoint.
//!
//! Leadership stays per projection: each is a session advisory lock (`projection:<name>`), so
//! two processes may share the projections between them, and a standby takes over any one a
//! dead process held. The process reads the log once, from the oldest checkpoint of the
//! projections it leads, with the union of their streams, and hands each projection its share
//! of a batch. In the batch's transaction each projection, in name order (so two processes
//! never wait on each other's quarantine locks in a circle), takes its quarantine lock and
//! sorts its share, all before anything is written; then each applies its share and moves its
//! own checkpoint by compare-and-set. Correctness does
//! not rest on the locks: the compare-and-set fences a stale leader off, as it does a rebuild
//! that swapped a projection's tables in meanwhile, and the batch then rolls back whole and
//! the process elects again.

use crate::sorted::{self, Decoded, Unapplied};
use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use event_store::checkpoint::{self, Leader};
use event_store::quarantine::{self, Quarantine};
use event_store::{EventStore, Position, RecordedEvent};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub(crate) struct Runner<S> {
    pub store: S,
    pub pool: PgPool,
    pub batch_size: usize,
    pub standby_poll: Duration,
}

/// Why following stopped.
enum Stop {
    /// This process took the lead of another projection: read again with it included.
    Regroup,
    Failed(ProjectorError),
}

impl From<ProjectorError> for Stop {
    fn from(e: ProjectorError) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<event_store::StoreError> for Stop {
    fn from(e: event_store::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<event_store::checkpoint::CheckpointError> for Stop {
    fn from(e: event_store::checkpoint::CheckpointError) -> Self {
        Self::Failed(e.into())
    }
}

fn lock_key(projection: Projection) -> String {
    format!("projection:{}", projection.name())
}

impl<S: EventStore> Runner<S> {
    /// Leads what projections it can and follows the log for them until shutdown; stands by
    /// for the others, and after an error lets every lock go and elects again, with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        let mut leading: BTreeMap<Projection, Leader> = BTreeMap::new();
        let mut announced_standby = false;
        while !shutdown.is_cancelled() {
            if let Err(e) = self.elect(&mut leading).await {
                tracing::error!(error = ?e, "could not take a projection's lead; retrying");
            }
            if leading.is_empty() {
                if !announced_standby {
                    tracing::info!("another instance leads every projection; standing by");
                    announced_standby = true;
                }
                sleep_or(&shutdown, self.standby_poll).await;
                continue;
            }
            announced_standby = false;
            let mut progressed = false;
            let stopped = tokio::select! {
                () = shutdown.cancelled() => break,
                stopped = self.follow(&mut leading, &mut progressed) => stopped,
            };
            if progressed {
                backoff = Duration::from_millis(200);
            }
            match stopped {
                Stop::Regroup => continue,
                Stop::Failed(e) => {
                    tracing::error!(error = ?e, "projections stopped; restarting");
                    release(&mut leading).await;
                    sleep_or(&shutdown, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        release(&mut leading).await;
    }

    /// Takes the lead of every projection no other instance leads; true if it took any.
    async fn elect(&self, leading: &mut BTreeMap<Projection, Leader>) -> Result<bool, sqlx::Error> {
        let mut took = false;
        for projection in Projection::ALL {
            if leading.contains_key(&projection) {
                continue;
            }
            if let Some(leader) = Leader::try_acquire(&self.pool, &lock_key(projection)).await? {
                tracing::info!(projection = projection.name(), "active");
                leading.insert(projection, leader);
                took = true;
            }
        }
        Ok(took)
    }

    /// Follows the log for the projections it leads, from the oldest of their checkpoints;
    /// returns only when it has to stop. Every `standby_poll` it checks that it still holds
    /// each lock, and tries for the projections others lead.
    async fn follow(
        &self,
        leading: &mut BTreeMap<Projection, Leader>,
        progressed: &mut bool,
    ) -> Stop {
        let mut at = BTreeMap::new();
        for &projection in leading.keys() {
            match checkpoint::load(&self.pool, projection.name()).await {
                Ok(position) => at.insert(projection, position),
                Err(e) => return e.into(),
            };
        }
        let from = at.values().min().copied().unwrap_or_default();
        let after = (from != Position::default()).then_some(from);
        let mut subscription = self
            .store
            .subscribe(after, Projection::union(leading.keys().copied()));
        let mut tick = tokio::time::interval(self.standby_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let batch = tokio::select! {
                batch = subscription.next_batch(self.batch_size) => batch,
                _ = tick.tick() => {
                    for leader in leading.values_mut() {
                        if let Err(e) = leader.alive().await {
                            return e.into();
                        }
                    }
                    match self.elect(leading).await {
                        Ok(true) => return Stop::Regroup,
                        Ok(false) => continue,
                        Err(e) => return e.into(),
                    }
                }
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => return e.into(),
            };
            if batch.is_empty() {
                return ProjectorError::SubscriptionEnded.into();
            }
            if let Err(stop) = self.apply(&batch, &mut at).await {
                return stop;
            }
            *progressed = true;
        }
    }

    /// Applies one batch in one transaction: each projection its share, through its own
    /// quarantine, and its checkpoint; then announces the checkpoints that moved.
    async fn apply(
        &self,
        batch: &[RecordedEvent],
        at: &mut BTreeMap<Projection, Position>,
    ) -> Result<(), Stop> {
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(());
        };
        let started = Instant::now();
        let decoded: Vec<Decoded> = batch.iter().map(sorted::decode).collect();
        // Applied at once; only a projection whose share fails because of an event's data is
        // applied again, carefully, one event at a time, to set that event aside.
        let mut careful = BTreeSet::new();
        'batch: loop {
            let mut tx = self.pool.begin().await?;
            // Every quarantine lock first, before anything is written: a transaction waiting
            // for a lock then holds no transaction id, so it never holds the log's horizon
            // back from the one holding the lock (a rebuild's swap reads the log under it).
            let mut shares = Vec::new();
            for (&projection, &from) in at.iter() {
                if from >= last {
                    continue;
                }
                let filter = projection.filter();
                let share: Vec<_> = batch
                    .iter()
                    .zip(&decoded)
                    .filter(|(event, _)| event.position > from && filter.matches(&event.stream))
                    .collect();
                let sorted = if share.is_empty() {
                    None
                } else {
                    let quarantine = Quarantine::new(quarantine::READ_MODELS, projection.name());
                    let sorting = quarantine.sort(&mut tx).await?;
                    Some((quarantine, sorting))
                };
                shares.push((projection, from, share, sorted));
            }
            // Every checkpoint it leads behind the batch moves, so every one is announced.
            let moved: Vec<&str> = shares.iter().map(|(p, ..)| p.name()).collect();
            let mut applied = Vec::new();
            for (projection, from, share, sorted) in shares {
                if let Some((quarantine, mut sorting)) = sorted {
                    let count = match sorted::apply(
                        projection,
                        &mut tx,
                        LIVE_SCHEMA,
                        &share,
                        &mut sorting,
                        false,
                        careful.contains(&projection),
                    )
                    .await
                    {
                        Ok(count) => count,
                        // Dropping the transaction rolls the batch back.
                        Err(Unapplied::Poisoned) => {
                            careful.insert(projection);
                            continue 'batch;
                        }
                        Err(Unapplied::Failed(e)) => return Err(e.into()),
                    };
                    quarantine.record(&mut tx, sorting).await?;
                    applied.push((projection, count));
                }
                // Every checkpoint it leads moves with the reader, events or not, so a restart
                // reads nothing twice.
                checkpoint::advance(&mut tx, projection.name(), from, last).await?;
            }
            checkpoint::announce_all(&mut tx, &moved, last).await?;
            tx.commit().await?;
            for position in at.values_mut() {
                *position = (*position).max(last);
            }
            for (projection, count) in applied {
                metrics::counter!("projector_events_applied_total", "projection" => projection.name())
                    .increment(count as u64);
            }
            metrics::histogram!("projector_batch_seconds").record(started.elapsed().as_secs_f64());
            tracing::debug!(events = batch.len(), position = %last, "batch applied");
            return Ok(());
        }
    }
}

/// Lets every lock go.
async fn release(leading: &mut BTreeMap<Projection, Leader>) {
    for (_, leader) in std::mem::take(leading) {
        leader.release().await;
    }
}

async fn sleep_or(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}
