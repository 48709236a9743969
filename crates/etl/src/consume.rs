//! The etl's side of RabbitMQ: take deliveries in batches, and acknowledge a batch only after
//! its transaction has committed.
//!
//! A delivery carries many events (see the feed's message contract). A batch ends when it
//! holds `batch_size` events, [`DELIVERIES_PER_BATCH`] deliveries, or when `flush` has passed
//! since its first delivery, whichever comes first, so a quiet feed still loads promptly. One
//! `basic.ack` with `multiple` covers the whole batch. If the process dies between commit and
//! ack, the broker redelivers the batch and the loader skips every event it already holds.

use crate::EtlError;
use crate::load::Rejected;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use projector::feed::{Amqp, FeedMessage, read_body};
use std::time::Duration;

/// Most deliveries in one batch. The broker hands out three batches' worth unacknowledged (one
/// loading, one parsed and waiting, one arriving), so memory stays within that many messages
/// of at most `FEED_BATCH_SIZE` events each, and a feed older than batches (one event per
/// message) still loads a few dozen events per transaction.
pub const DELIVERIES_PER_BATCH: u16 = 64;

/// A consumer on the feed's queue.
pub struct FeedConsumer {
    // Held so the connection lives as long as the consumer; dropping it is a crash as far as
    // the broker can tell: every unacknowledged delivery goes back to the queue.
    _connection: Connection,
    channel: Channel,
    deliveries: lapin::Consumer,
    batch_size: usize,
    flush: Duration,
}

/// Deliveries taken together, not yet acknowledged.
pub struct Batch {
    pub messages: Vec<FeedMessage>,
    pub rejected: Vec<Rejected>,
    /// How many deliveries were marked redelivered by the broker.
    pub redelivered: usize,
    deliveries: u16,
    last_tag: u64,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.messages.len() + self.rejected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeedConsumer {
    /// Connects, declares the topology and starts consuming with a prefetch of three batches
    /// of deliveries: one loading, one parsed and waiting, one arriving.
    pub async fn connect(amqp: &Amqp, batch_size: u16, flush: Duration) -> Result<Self, EtlError> {
        let connection = amqp.connect().await?;
        let channel = connection.create_channel().await?;
        amqp.declare(&channel).await?;
        let prefetch = DELIVERIES_PER_BATCH * 3;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                amqp.queue().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            _connection: connection,
            channel,
            deliveries,
            batch_size: usize::from(batch_size.max(1)),
            flush,
        })
    }

    /// Waits for a first delivery, then takes more until the batch is full or `flush` ends.
    pub async fn next_batch(&mut self) -> Result<Batch, EtlError> {
        let mut batch = Batch {
            messages: Vec::with_capacity(self.batch_size),
            rejected: Vec::new(),
            redelivered: 0,
            deliveries: 0,
            last_tag: 0,
        };
        let first = self
            .deliveries
            .next()
            .await
            .ok_or(EtlError::ConsumerEnded)??;
        batch.add(first);
        let deadline = tokio::time::Instant::now() + self.flush;
        while batch.len() < self.batch_size && batch.deliveries < DELIVERIES_PER_BATCH {
            match tokio::time::timeout_at(deadline, self.deliveries.next()).await {
                Ok(Some(delivery)) => batch.add(delivery?),
                Ok(None) => return Err(EtlError::ConsumerEnded),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Acknowledges every delivery of `batch` (and any earlier one) at once.
    pub async fn ack(&self, batch: &Batch) -> Result<(), EtlError> {
        self.acker().ack(batch).await
    }

    /// A handle that acknowledges batches while this consumer goes on receiving.
    pub fn acker(&self) -> BatchAcker {
        BatchAcker {
            channel: self.channel.clone(),
        }
    }
}

/// Acknowledges batches on the consumer's channel.
#[derive(Clone)]
pub struct BatchAcker {
    channel: Channel,
}

impl BatchAcker {
    /// Acknowledges every delivery of `batch` (and any earlier one) at once. Batches must be
    /// acknowledged in the order they were received, each only after its commit.
    pub async fn ack(&self, batch: &Batch) -> Result<(), EtlError> {
        self.channel
            .basic_ack(batch.last_tag, BasicAckOptions { multiple: true })
            .await?;
        Ok(())
    }
}

impl Batch {
    fn add(&mut self, delivery: lapin::message::Delivery) {
        self.last_tag = delivery.delivery_tag;
        self.deliveries += 1;
        if delivery.redelivered {
            self.redelivered += 1;
        }
        for event in read_body(&delivery.data) {
            match event {
                Ok(message) => self.messages.push(message),
                Err(unreadable) => {
                    // The event's own id when it could be read, else the message's.
                    let id = unreadable.id.or_else(|| {
                        let id = delivery.properties.message_id().as_ref();
                        id.map(|id| id.to_string())
                    });
                    self.rejected.push(Rejected::new(id, &unreadable.error));
                }
            }
        }
    }
}
