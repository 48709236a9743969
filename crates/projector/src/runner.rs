//! Running one projection: elect an active instance, follow the log in batches, stand by
//! otherwise. Leadership is a session advisory lock; correctness does not rest on it, because
//! the checkpoint compare-and-set in every batch fences a stale leader off.

use crate::{LIVE_SCHEMA, Projection, ProjectorError, decode};
use domain::DomainEvent;
use event_store::checkpoint::{self, Leader};
use event_store::{EventStore, Position};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Another instance is active.
struct Standby;

pub(crate) struct Runner<S> {
    pub projection: Projection,
    pub store: S,
    pub pool: PgPool,
    pub batch_size: usize,
    pub standby_poll: Duration,
}

impl<S: EventStore> Runner<S> {
    /// Supervises the projection until shutdown: errors are logged and retried with backoff.
    #[tracing::instrument(skip_all, fields(projection = self.projection.name()))]
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        let mut announced_standby = false;
        while !shutdown.is_cancelled() {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.lead() => outcome,
            };
            match outcome {
                Ok(Standby) => {
                    if !announced_standby {
                        tracing::info!("another instance is active; standing by");
                        announced_standby = true;
                    }
                    sleep_or(&shutdown, self.standby_poll).await;
                }
                Err(e) => {
                    announced_standby = false;
                    tracing::error!(error = ?e, "projection stopped; restarting");
                    sleep_or(&shutdown, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Tries to become the active instance; while active, projects until an error.
    async fn lead(&self) -> Result<Standby, ProjectorError> {
        let key = format!("projection:{}", self.projection.name());
        let Some(mut leader) = Leader::try_acquire(&self.pool, &key).await? else {
            return Ok(Standby);
        };
        tracing::info!("active");
        // The lock lives as long as its connection; if that dies, stop and elect again.
        tokio::select! {
            stopped = self.project() => Err(stopped),
            lost = leader.lost() => Err(lost.into()),
        }
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
        let mut at = checkpoint::load(&self.pool, name).await?;
        let after = (at != Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, self.projection.filter());
        loop {
            let batch = subscription.next_batch(self.batch_size).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(ProjectorError::SubscriptionEnded);
            };
            let started = std::time::Instant::now();
            let events = batch.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            let mut tx = self.pool.begin().await?;
            let events: Vec<&DomainEvent> = events.iter().collect();
            self.projection
                .apply(&mut tx, LIVE_SCHEMA, &events, false)
                .await?;
            checkpoint::advance(&mut tx, name, at, last).await?;
            checkpoint::announce(&mut tx, name, last).await?;
            tx.commit().await?;
            metrics::counter!("projector_events_applied_total", "projection" => name)
                .increment(events.len() as u64);
            metrics::histogram!("projector_batch_seconds", "projection" => name)
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(events = events.len(), position = %last, "batch applied");
            at = last;
        }
    }
}

async fn sleep_or(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}
