//! Read your writes: a command returns only once the read models show it, and a query can ask
//! to wait for a position it was given.
//!
//! One task per process listens for the checkpoint announcements of projections and reactors
//! and keeps the latest position of each in a watch channel; waiting is a bounded `wait_for`
//! on it, so a thousand waiting requests cost no queries at all.
//!
//! Which projections and reactors exist, and which streams each follows, is handed in: this
//! crate knows no read model.

use event_store::Position;
use event_store::checkpoint::{CHECKPOINT_CHANNEL, Checkpoints, Follower};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type Positions = HashMap<String, Position>;

/// Where each projection and reactor stands, as last announced.
#[derive(Clone)]
pub struct Freshness {
    positions: watch::Receiver<Positions>,
    projections: Vec<Follower>,
    reactors: Vec<Follower>,
}

impl Freshness {
    /// Starts following checkpoints on `tracker` until `shutdown`. Commands wait for the
    /// `projections` that read their stream; the `reactors` only when asked to.
    pub fn start(
        pool: PgPool,
        projections: Vec<Follower>,
        reactors: Vec<Follower>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let (sender, positions) = watch::channel(Positions::new());
        tracker.spawn(follow(pool, sender, shutdown));
        Self {
            positions,
            projections,
            reactors,
        }
    }

    /// Waits until every projection that reads `stream` has passed `position`, at most
    /// `timeout`. False if it timed out: the write stands, the read models lag.
    pub async fn wait(&self, stream: &str, position: Position, timeout: Duration) -> bool {
        self.wait_for(following(&self.projections, stream), position, timeout)
            .await
    }

    /// Waits until every reactor that acts on an event of `event_type` in `stream` has passed
    /// `position`: whatever the event called for is recorded by then. Reactors that do not act
    /// on such an event are not waited for: they move their checkpoint past events they pass
    /// over only now and then.
    pub async fn wait_reactions(
        &self,
        stream: &str,
        event_type: &str,
        position: Position,
        timeout: Duration,
    ) -> bool {
        let acting = self
            .reactors
            .iter()
            .filter(|reactor| reactor.acts_on(stream, event_type));
        self.wait_for(acting, position, timeout).await
    }

    /// Waits until every projection has passed `position`.
    pub async fn wait_all(&self, position: Position, timeout: Duration) -> bool {
        self.wait_for(self.projections.iter(), position, timeout)
            .await
    }

    async fn wait_for<'a>(
        &self,
        followers: impl Iterator<Item = &'a Follower>,
        position: Position,
        timeout: Duration,
    ) -> bool {
        let names: Vec<&str> = followers.map(|f| f.name.as_str()).collect();
        let mut positions = self.positions.clone();
        let caught_up = |at: &Positions| {
            names
                .iter()
                .all(|name| at.get(*name).is_some_and(|at| *at >= position))
        };
        let waited = tokio::time::timeout(timeout, positions.wait_for(caught_up)).await;
        let fresh = matches!(waited, Ok(Ok(_)));
        if !fresh {
            tracing::warn!(%position, "read models did not catch up in time");
        }
        fresh
    }
}

fn following<'a>(followers: &'a [Follower], stream: &'a str) -> impl Iterator<Item = &'a Follower> {
    followers.iter().filter(move |f| f.filter.matches(stream))
}

async fn follow(pool: PgPool, sender: watch::Sender<Positions>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHECKPOINT_CHANNEL).await?;
            // Announcements made while we were not listening are in the table.
            let all = Checkpoints::all(&pool).await?;
            sender.send_modify(|positions| {
                for (name, at) in all {
                    raise(positions, &name, at);
                }
            });
            loop {
                let notification = listener.recv().await?;
                sender.send_modify(|positions| {
                    for (name, at) in Checkpoints::parse_announcement(notification.payload()) {
                        raise(positions, name, at);
                    }
                });
            }
        };
        let failed: Result<(), sqlx::Error> = tokio::select! {
            () = shutdown.cancelled() => return,
            failed = listening => failed,
        };
        if let Err(e) = failed {
            tracing::warn!(error = %e, "lost the checkpoint feed; reconnecting");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Checkpoints only move forward; a late or repeated announcement never moves one back.
fn raise(positions: &mut Positions, name: &str, at: Position) {
    let current = positions.entry(name.to_owned()).or_default();
    *current = (*current).max(at);
}
