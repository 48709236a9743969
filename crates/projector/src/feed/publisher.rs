//! The feed's runner: elects one active publisher, follows the log from the feed's checkpoint,
//! gathers a batch (up to `FEED_BATCH_SIZE` events, waiting `FEED_LINGER_MS` for more),
//! publishes it as one message with a confirm and only then moves the checkpoint; retries with
//! backoff while the broker is down.

use super::{Amqp, FEED_NAME, FeedError, FeedMessage, Settings, body, properties};
use crate::ProjectorError;
use event_store::checkpoint::{self, Leader};
use event_store::quarantine::{self, Failure, Quarantine, Reapply, Retried, RetryError, Sorting};
use event_store::{EventStore, Position, RecordedEvent, StoreError, Subscription};
use lapin::Channel;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use sqlx::PgConnection;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Publishes the log to RabbitMQ until `shutdown`. One instance is active (advisory lock
/// `projection:warehouse-feed`); others stand by.
pub async fn run<S: EventStore>(
    store: S,
    pool: PgPool,
    amqp: Amqp,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let feed = Feed {
        store,
        pool,
        amqp,
        settings,
    };
    feed.supervise(shutdown).await;
}

struct Feed<S> {
    store: S,
    pool: PgPool,
    amqp: Amqp,
    settings: Settings,
}

enum Standby {
    Yes,
}

impl<S: EventStore> Feed<S> {
    #[tracing::instrument(skip_all, fields(projection = FEED_NAME))]
    async fn supervise(self, shutdown: CancellationToken) {
        let max_backoff = Duration::from_millis(self.settings.max_backoff_ms.max(1));
        let mut backoff = Duration::from_millis(100).min(max_backoff);
        while !shutdown.is_cancelled() {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.lead() => outcome,
            };
            let wait = match outcome {
                Ok(Standby::Yes) => Duration::from_millis(self.settings.standby_poll_ms),
                Err((e, published)) => {
                    // A stretch of confirmed publishing means the outage is over: start the
                    // next one's backoff small again.
                    if published {
                        backoff = Duration::from_millis(100).min(max_backoff);
                    }
                    tracing::warn!(error = ?e, retry_in_ms = backoff.as_millis() as u64, "warehouse feed stopped; retrying");
                    let wait = backoff;
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Becomes the active feed if no one else is; then publishes until an error. The error
    /// comes with whether any batch was confirmed before it.
    async fn lead(&self) -> Result<Standby, (FeedError, bool)> {
        let leader = Leader::try_acquire(&self.pool, &format!("projection:{FEED_NAME}"))
            .await
            .map_err(|e| (e.into(), false))?;
        let Some(mut leader) = leader else {
            return Ok(Standby::Yes);
        };
        let mut published = false;
        let stopped = tokio::select! {
            e = self.follow(&mut published) => e,
            e = leader.lost() => e.into(),
        };
        Err((stopped, published))
    }

    async fn follow(&self, published: &mut bool) -> FeedError {
        match self.publish_from_checkpoint(published).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn publish_from_checkpoint(
        &self,
        published: &mut bool,
    ) -> Result<std::convert::Infallible, FeedError> {
        let connection = self.amqp.connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.amqp.declare(&channel).await?;
        tracing::info!("active; publishing to the broker");

        let quarantine = Quarantine::new(quarantine::READ_MODELS, FEED_NAME);
        let mut at = checkpoint::load(&self.pool, FEED_NAME).await?;
        let after = (at != Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, FeedMessage::filter());
        let exchange = self.amqp.exchange();
        let linger = Duration::from_millis(self.settings.linger_ms);
        loop {
            let batch = gather(
                &mut subscription,
                usize::from(self.settings.batch_size),
                linger,
            )
            .await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(ProjectorError::SubscriptionEnded.into());
            };
            let started = std::time::Instant::now();
            // The transaction holds the feed's quarantine lock from sorting to the checkpoint.
            let mut tx = self.pool.begin().await?;
            let mut sorting = quarantine.sort(&mut tx).await?;
            let messages = messages(&batch, &mut sorting)?;
            let sent = publish(&channel, &exchange, &messages).await?;
            // Not announced, since no read waits for the warehouse.
            quarantine.record(&mut tx, sorting).await?;
            checkpoint::advance(&mut tx, FEED_NAME, at, last).await?;
            tx.commit().await?;
            *published = true;
            metrics::counter!("warehouse_feed_events_published_total")
                .increment(messages.len() as u64);
            metrics::counter!("warehouse_feed_messages_published_total").increment(sent);
            metrics::histogram!("warehouse_feed_batch_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(events = messages.len(), position = %last, "batch confirmed");
            at = last;
        }
    }
}

/// Waits for a first event, then up to `linger` for more, until `max` have come: one broker
/// message then carries what arrived meanwhile. An empty batch means the subscription ended.
async fn gather(
    subscription: &mut Subscription,
    max: usize,
    linger: Duration,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut batch = subscription.next_batch(max).await?;
    let deadline = tokio::time::Instant::now() + linger;
    while !batch.is_empty() && batch.len() < max {
        // Taking from the subscription's channel is cancel safe: an event is either in
        // `more` or still in the channel when the deadline strikes.
        match tokio::time::timeout_at(deadline, subscription.next_batch(max - batch.len())).await {
            Ok(more) => {
                let more = more?;
                if more.is_empty() {
                    break;
                }
                batch.extend(more);
            }
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// The events of a batch as the feed carries them; an event that cannot be decoded, and the later events of its
/// stream, are set aside in `sorting` instead.
fn messages(batch: &[RecordedEvent], sorting: &mut Sorting) -> Result<Vec<FeedMessage>, FeedError> {
    let mut messages = Vec::with_capacity(batch.len());
    for event in batch {
        if sorting.queue_if_blocked(event) {
            continue;
        }
        match FeedMessage::from_recorded(event) {
            Ok(message) => messages.push(message),
            Err(ProjectorError::Decode { source, .. }) => sorting.hold(event, source.kind()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(messages)
}

/// Publishes a batch of events as one message and waits for its confirm; returns how many
/// messages that took (none for an empty batch).
async fn publish(
    channel: &Channel,
    exchange: &str,
    events: &[FeedMessage],
) -> Result<u64, FeedError> {
    let Some(first) = events.first() else {
        return Ok(0);
    };
    let body = body(events).map_err(|_| FeedError::NotConfirmed(first.id))?;
    // Mandatory: a message no queue takes comes back instead of vanishing.
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirmation = channel
        .basic_publish(
            exchange.into(),
            "".into(),
            options,
            &body,
            properties(events),
        )
        .await?
        .await?;
    if !confirmation.is_ack() || confirmation.take_message().is_some() {
        return Err(FeedError::NotConfirmed(first.id));
    }
    Ok(1)
}

/// Publishes the feed's quarantined events again, in order per stream (`booking quarantine
/// retry`). The etl ignores a message it already loaded, so a repeat is harmless.
pub async fn retry<S: EventStore>(
    store: &S,
    pool: &PgPool,
    amqp: &Amqp,
) -> Result<Retried, RetryError> {
    let connect = async {
        let connection = amqp.connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        amqp.declare(&channel).await?;
        Ok::<_, lapin::Error>((connection, channel))
    };
    let (_connection, channel) = connect
        .await
        .map_err(|e| RetryError::Transient(Box::new(e)))?;
    let republish = Republish {
        channel,
        exchange: amqp.exchange(),
    };
    Quarantine::new(quarantine::READ_MODELS, FEED_NAME)
        .retry(pool, store, &republish)
        .await
}

struct Republish {
    channel: Channel,
    exchange: String,
}

impl Reapply for Republish {
    async fn reapply(&self, _tx: &mut PgConnection, event: RecordedEvent) -> Result<(), Failure> {
        let message = match FeedMessage::from_recorded(&event) {
            Ok(message) => message,
            Err(ProjectorError::Decode { source, .. }) => {
                return Err(Failure::Poison(source.kind().to_owned()));
            }
            Err(e) => return Err(Failure::Transient(Box::new(e))),
        };
        publish(&self.channel, &self.exchange, &[message])
            .await
            .map(drop)
            .map_err(|e| Failure::Transient(Box::new(e)))
    }
}
