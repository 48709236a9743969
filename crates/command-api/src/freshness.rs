//! Read your writes: a command returns only once the read models show it, and a query can ask
//! to wait for a position it was given.
//!
//! One task per process listens for the projector's checkpoint announcements and keeps the
//! latest position of every projection in a watch channel; waiting is a bounded `wait_for` on
//! it, so a thousand waiting requests cost no queries at all.

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use event_store::Position;
use projector::{CHECKPOINT_CHANNEL, Checkpoints, Projection};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

type Positions = HashMap<String, Position>;

/// Where each projection stands, as last announced.
#[derive(Clone)]
pub struct Freshness {
    positions: watch::Receiver<Positions>,
}

impl Freshness {
    /// Starts following checkpoints until `shutdown`.
    pub fn start(pool: PgPool, shutdown: CancellationToken) -> Self {
        let (sender, positions) = watch::channel(Positions::new());
        tokio::spawn(follow(pool, sender, shutdown));
        Self { positions }
    }

    /// Waits until every projection that reads `stream` has passed `position`, at most
    /// `timeout`. False if it timed out: the write stands, the read models lag.
    pub async fn wait(&self, stream: &str, position: Position, timeout: Duration) -> bool {
        let projections = Projection::following(stream);
        self.wait_for(&projections, position, timeout).await
    }

    /// The answer to a command: the bare id, after the read models show the change (bounded
    /// by `timeout`), with the log position in `X-Event-Position` so a client can ask a later
    /// query to wait for it.
    pub async fn recorded(
        &self,
        id: i64,
        stream: &str,
        position: Option<Position>,
        timeout: Duration,
    ) -> Response {
        let mut response = Json(id).into_response();
        if let Some(position) = position {
            self.wait(stream, position, timeout).await;
            if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
                response.headers_mut().insert(crate::POSITION_HEADER, value);
            }
        }
        response
    }

    /// Waits until every projection has passed `position`.
    pub async fn wait_all(&self, position: Position, timeout: Duration) -> bool {
        self.wait_for(&Projection::ALL, position, timeout).await
    }

    async fn wait_for(
        &self,
        projections: &[Projection],
        position: Position,
        timeout: Duration,
    ) -> bool {
        let mut positions = self.positions.clone();
        let caught_up = |at: &Positions| {
            projections
                .iter()
                .all(|p| at.get(p.name()).is_some_and(|at| *at >= position))
        };
        let waited = tokio::time::timeout(timeout, positions.wait_for(caught_up)).await;
        let fresh = matches!(waited, Ok(Ok(_)));
        if !fresh {
            tracing::warn!(%position, "read models did not catch up in time");
        }
        fresh
    }
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
                if let Some((name, at)) = Checkpoints::parse_announcement(notification.payload()) {
                    sender.send_modify(|positions| raise(positions, name, at));
                }
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
