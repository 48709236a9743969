//! The payment dispatcher: the step of the order process that talks to the provider. It
//! follows the order streams and, for each `PaymentRequested` and `RefundRequested`, asks the
//! provider, whose answer comes later by webhook.
//!
//! It runs like a reactor: one active instance (a leader lock), a checkpoint that moves only
//! after a batch's requests were accepted, and a restart from the checkpoint after any
//! failure. A batch's requests for different orders are with the provider at once (up to
//! 32 orders); one order's go one after another, in log order. A crash between a request and the checkpoint asks the provider again with the
//! same idempotency key (the payment's or refund's id), so nothing is charged or refunded
//! twice. A request the provider refuses for good is recorded on the order, caused by the
//! event that asked for it, so a repeat records nothing.

use crate::reactors::Targets;
use commands::{Cause, CommandError};
use domain::{DomainEvent, OrderCommand, OrderEvent, OrderId};
use event_store::checkpoint;
use event_store::quarantine::{self, Quarantine};
use event_store::{AnyStore, EventStore, Filter, RecordedEvent};
use futures_util::{StreamExt, TryStreamExt};
use payments::{AnyProvider, PaymentProvider, PaymentRequest, ProviderError, RefundRequest};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The dispatcher's name: its checkpoint, leader lock and causes.
pub(crate) const NAME: &str = "payment-dispatcher";
const REACTS_TO: [&str; 2] = ["PaymentRequested", "RefundRequested"];
const BATCH: usize = 100;
/// Orders whose requests are with the provider at once. A provider answers in a few hundred
/// milliseconds; one request at a time would cap the whole service at a few payments a second.
const IN_FLIGHT: usize = 32;

fn filter() -> Filter {
    Filter::prefixes([OrderId::STREAM_PREFIX])
}

#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("event store")]
    Store(#[from] event_store::StoreError),
    #[error("checkpoint")]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("the provider is unavailable")]
    Provider(#[source] ProviderError),
    #[error("the order could not be told")]
    Order(String),
    #[error("the subscription ended")]
    SubscriptionEnded,
}

#[derive(Clone)]
pub(crate) struct Dispatcher {
    store: AnyStore,
    pool: PgPool,
    targets: Targets,
    provider: AnyProvider,
}

impl Dispatcher {
    pub(crate) fn new(
        store: AnyStore,
        pool: PgPool,
        targets: Targets,
        provider: AnyProvider,
    ) -> Self {
        Self {
            store,
            pool,
            targets,
            provider,
        }
    }

    /// Runs until `shutdown`, as the one active dispatcher across processes.
    #[tracing::instrument(skip_all, fields(runner = NAME))]
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let key = format!("reactor:{NAME}");
        checkpoint::lead(&self.pool, &key, Duration::from_secs(1), &shutdown, || {
            self.follow()
        })
        .await;
    }

    async fn follow(&self) -> Stop {
        match self.follow_batches().await {
            Ok(never) => match never {},
            Err(stop) => stop,
        }
    }

    async fn follow_batches(&self) -> Result<std::convert::Infallible, Stop> {
        let quarantine = Quarantine::new(quarantine::READ_MODELS, NAME);
        let mut at = checkpoint::load(&self.pool, NAME).await?;
        let after = (at != event_store::Position::default()).then_some(at);
        let mut subscription = self.store.subscribe(after, filter());
        loop {
            let batch = subscription.next_batch(BATCH).await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Err(Stop::SubscriptionEnded);
            };
            let mut tx = self.pool.begin().await?;
            let mut sorting = quarantine.sort(&mut tx).await?;
            // One order's requests go in log order (a refund after its payment); different
            // orders' go out together.
            let mut orders: Vec<Vec<&RecordedEvent>> = Vec::new();
            let mut order_at: HashMap<&str, usize> = HashMap::new();
            for event in batch
                .iter()
                .filter(|event| REACTS_TO.contains(&event.event_type.as_str()))
            {
                let at = *order_at.entry(&event.stream).or_insert_with(|| {
                    orders.push(Vec::new());
                    orders.len() - 1
                });
                orders[at].push(event);
            }
            // An order already queued behind a quarantined event asks nothing.
            let blocked: Vec<bool> = orders
                .iter()
                .map(|events| sorting.is_blocked(&events[0].stream))
                .collect();
            let mut asks = Vec::with_capacity(orders.len());
            for (events, &blocked) in orders.iter().zip(&blocked) {
                if !blocked {
                    asks.push(self.dispatch_in_order(events));
                }
            }
            let mut poisoned = futures_util::stream::iter(asks)
                .buffered(IN_FLIGHT)
                .try_collect::<Vec<_>>()
                .await?
                .into_iter();
            // What a poisoned request leaves of its order queues behind it, as do the events of
            // an order that was blocked already.
            for (events, blocked) in orders.iter().zip(blocked) {
                let behind = if blocked {
                    0
                } else if let Some((n, kind)) = poisoned.next().flatten() {
                    sorting.hold(events[n], kind);
                    n + 1
                } else {
                    events.len()
                };
                for &event in &events[behind..] {
                    sorting.queue_if_blocked(event);
                }
            }
            quarantine.record(&mut tx, sorting).await?;
            checkpoint::advance(&mut tx, NAME, at, last).await?;
            checkpoint::announce(&mut tx, NAME, last).await?;
            tx.commit().await?;
            at = last;
        }
    }

    /// Asks the provider for what each of one order's `events` calls for, in order, up to the
    /// first that is poison: its index and kind.
    async fn dispatch_in_order(
        &self,
        events: &[&RecordedEvent],
    ) -> Result<Option<(usize, &'static str)>, Stop> {
        for (n, event) in events.iter().enumerate() {
            if let Err(kind) = self.dispatch(event).await? {
                return Ok(Some((n, kind)));
            }
        }
        Ok(None)
    }

    /// Asks the provider for what `event` calls for. `Ok(Err(kind))`: poison, to be set aside.
    async fn dispatch(&self, event: &RecordedEvent) -> Result<Result<(), &'static str>, Stop> {
        let decoded = match domain::decode(&event.event_type, &event.metadata, event.data.clone()) {
            Ok(DomainEvent::Order(decoded)) => decoded,
            Ok(_) => return Ok(Err("not_an_order_event")),
            Err(e) => return Ok(Err(e.kind())),
        };
        let (order_id, asked, refusal) = match decoded {
            OrderEvent::PaymentRequested {
                order_id,
                payment_id,
                amount,
                token,
                ..
            } => {
                let request = PaymentRequest {
                    payment_id: payment_id.to_string(),
                    amount: amount.amount,
                    currency: amount.currency.to_string(),
                    token: token.0,
                };
                let asked = self.provider.request_payment(&request).await;
                let refusal = OrderCommand::PaymentRefused {
                    payment_id,
                    at: chrono::Utc::now(),
                };
                (order_id, asked, refusal)
            }
            OrderEvent::RefundRequested {
                order_id,
                refund_id,
                payment_id,
                amount,
                ..
            } => {
                let request = RefundRequest {
                    refund_id: refund_id.to_string(),
                    payment_id: payment_id.to_string(),
                    amount: amount.amount,
                    currency: amount.currency.to_string(),
                };
                let asked = self.provider.refund(&request).await;
                let refusal = OrderCommand::RefundRefused {
                    refund_id,
                    at: chrono::Utc::now(),
                };
                (order_id, asked, refusal)
            }
            _ => return Ok(Ok(())),
        };
        match asked {
            Ok(()) => {
                metrics::counter!("payment_requests_total", "outcome" => "accepted").increment(1);
                Ok(Ok(()))
            }
            Err(ProviderError::Rejected(reason)) => {
                metrics::counter!("payment_requests_total", "outcome" => "rejected").increment(1);
                tracing::warn!(%reason, position = %event.position, "the provider refused a request");
                let cause = Cause {
                    event_id: event.id,
                    by: NAME,
                    part: 0,
                };
                match self
                    .targets
                    .orders
                    .execute_caused(order_id, refusal, cause)
                    .await
                {
                    Ok(_) | Err(CommandError::Rejected(_)) => Ok(Ok(())),
                    Err(CommandError::Unreadable(kind)) => Ok(Err(kind)),
                    Err(other) => Err(Stop::Order(other.to_string())),
                }
            }
            Err(unavailable @ ProviderError::Unavailable(_)) => {
                metrics::counter!("payment_requests_total", "outcome" => "unavailable")
                    .increment(1);
                Err(Stop::Provider(unavailable))
            }
        }
    }
}
