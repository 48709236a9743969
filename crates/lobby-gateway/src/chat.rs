//! Chat between lobby members, across gateway instances.
//!
//! A line is handed to the sender's lobby in this process at once, and published on one Redis
//! channel; every other instance relays it to its own members of that lobby (an instance
//! ignores its own publications, whose members already have the line). Without Redis, or
//! while it is down, chat still works within one instance.

use crate::feed::{Message, Outgoing};
use crate::hub::{Hub, Topic};
use domain::{LobbyId, TrainId};
use futures_util::StreamExt;
use http_kit::RedisLink;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) struct Chat {
    redis: Arc<RedisLink>,
    hub: Arc<Hub>,
    channel: String,
    /// This process, so it can recognise its own publications.
    instance: String,
    listening: AtomicBool,
}

/// A chat line on the Redis channel.
#[derive(Serialize, Deserialize)]
struct Relayed {
    instance: String,
    train_id: TrainId,
    lobby_id: LobbyId,
    member: String,
    text: String,
}

impl Chat {
    /// Starts listening on `channel` (with Redis) until `shutdown`.
    pub(crate) fn start(
        redis: Arc<RedisLink>,
        hub: Arc<Hub>,
        channel: String,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let with_redis = redis.client().is_some();
        let chat = Arc::new(Self {
            redis,
            hub,
            channel,
            instance: uuid::Uuid::now_v7().simple().to_string(),
            listening: AtomicBool::new(!with_redis),
        });
        if with_redis {
            tracker.spawn(listen(Arc::clone(&chat), shutdown));
        }
        chat
    }

    /// True once other instances' lines arrive (always, without Redis).
    pub(crate) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Relays `text` from `member` to the other members of the lobby, here and elsewhere.
    pub(crate) async fn say(
        &self,
        train_id: TrainId,
        lobby_id: LobbyId,
        member: &str,
        text: String,
    ) {
        let message = Message::Chat {
            lobby_id,
            member: member.to_owned(),
            text,
        };
        self.hub
            .send(Topic::Train(train_id), Outgoing::new(&message));
        let Message::Chat { member, text, .. } = message else {
            return;
        };
        let Some(mut connection) = self.redis.connection().await else {
            return;
        };
        let relayed = Relayed {
            instance: self.instance.clone(),
            train_id,
            lobby_id,
            member,
            text,
        };
        let payload = serde_json::to_string(&relayed).unwrap_or_default();
        let published: redis::RedisResult<()> = connection.publish(&self.channel, payload).await;
        if let Err(e) = published {
            self.redis.mark_down(&e);
        }
    }

    fn relay(&self, payload: &str) {
        let Ok(relayed) = serde_json::from_str::<Relayed>(payload) else {
            tracing::warn!("ignoring a malformed chat line from redis");
            return;
        };
        if relayed.instance == self.instance {
            return;
        }
        let message = Message::Chat {
            lobby_id: relayed.lobby_id,
            member: relayed.member,
            text: relayed.text,
        };
        self.hub
            .send(Topic::Train(relayed.train_id), Outgoing::new(&message));
    }
}

async fn listen(chat: Arc<Chat>, shutdown: CancellationToken) {
    let Some(client) = chat.redis.client().cloned() else {
        return;
    };
    let mut backoff = Duration::from_millis(500);
    while !shutdown.is_cancelled() {
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&chat.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribe).await {
            Ok(Ok(pubsub)) => {
                chat.listening.store(true, Ordering::Relaxed);
                backoff = Duration::from_millis(500);
                let mut lines = pubsub.into_on_message();
                loop {
                    let line = tokio::select! {
                        () = shutdown.cancelled() => return,
                        line = lines.next() => line,
                    };
                    let Some(line) = line else { break };
                    match line.get_payload::<String>() {
                        Ok(payload) => chat.relay(&payload),
                        Err(e) => tracing::warn!(error = %e, "ignoring an unreadable chat line"),
                    }
                }
                chat.listening.store(false, Ordering::Relaxed);
                tracing::warn!(
                    "lost the chat channel; chat stays within this instance until it is back"
                );
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot subscribe to the chat channel"),
            Err(_) => tracing::warn!("subscribing to the chat channel timed out"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
