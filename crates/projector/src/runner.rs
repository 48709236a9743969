//! Running one projection: elect an active instance, follow the log in batches, stand by
//! otherwise. Leadership is a session advisory lock; correctness does not rest on it, because
//! the checkpoint compare-and-set in every batch fences a stale leader off.

use crate::sorted::{self, Decoded, Unapplied};
use crate::{LIVE_SCHEMA, Projection, ProjectorError};
use event_store::checkpoint;
use event_store::quarantine::{self, Quarantine};
use event_store::{EventStore, Position};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) struct Runner<S> {
    pub projection: Projection,
    pub store: S,
    pub pool: PgPool,
    pub batch_size: usize,
    pub standby_poll: Duration,
}

impl<S: EventStore> Runner<S> {
    /// Supervises the projection until shutdown: one active instance, errors logged and
    /// retried with backoff.
    #[tracing::instrument(skip_all, fields(projection = self.projection.name()))]
    pub async fn run(self, shutdown: CancellationToken) {
        let key = format!("projection:{}", self.projection.name());
        checkpoint::lead(&self.pool, &key, self.standby_poll, &shutdown, || {
            self.project()
        })
        .await;
    }

    /// Follows the log from the checkpoint; returns only when it has to stop.
    async fn project(&self) -> ProjectorError {
        match self.follow().await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn follow(&self) -> Result<std::convert::Infallible, ProjectorError> {
        let name = self.projection.name();
        let quarantine = Quarantine::new(quarantine::READ_MODELS, name);
        let mut at = checkpoint::load(&self.pool, name).await?;
        let after = (at != Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, self.projection.filter());
        loop {
            let batch = subscription.next_batch(self.batch_size).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(ProjectorError::SubscriptionEnded);
            };
            let started = std::time::Instant::now();
            let decoded: Vec<Decoded> = batch.iter().map(sorted::decode).collect();
            let events: Vec<_> = batch.iter().zip(&decoded).collect();
            // Applied at once; only when an event of the batch fails because of its data is
            // the batch applied again, carefully, one event at a time, to set that event aside.
            let mut careful = false;
            let applied = loop {
                let mut tx = self.pool.begin().await?;
                let mut sorting = quarantine.sort(&mut tx).await?;
                let applied = match sorted::apply(
                    self.projection,
                    &mut tx,
                    LIVE_SCHEMA,
                    &events,
                    &mut sorting,
                    false,
                    careful,
                )
                .await
                {
                    Ok(applied) => applied,
                    // Dropping the transaction rolls the batch back.
                    Err(Unapplied::Poisoned) => {
                        careful = true;
                        continue;
                    }
                    Err(Unapplied::Failed(e)) => return Err(e),
                };
                quarantine.record(&mut tx, sorting).await?;
                checkpoint::advance(&mut tx, name, at, last).await?;
                checkpoint::announce(&mut tx, name, last).await?;
                tx.commit().await?;
                break applied;
            };
            metrics::counter!("projector_events_applied_total", "projection" => name)
                .increment(applied as u64);
            metrics::histogram!("projector_batch_seconds", "projection" => name)
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(events = applied, position = %last, "batch applied");
            at = last;
        }
    }
}
