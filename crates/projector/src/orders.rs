//! The orders read model: each order's state as the domain folds it, and one row per payment.
//!
//! The row keeps the [`domain::Order`] itself, so a batch loads the orders it touches, folds
//! their new events with the domain's own `evolve`, and writes them back: the statuses shown
//! are the ones the rules decide, never a second copy of them in SQL.

use crate::Projection;
use chrono::{DateTime, Utc};
use domain::{Decider, DomainEvent, Order, OrderId, OrderState, Orders, RefundStatus};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// `orders`: every order and its payments. It reads the train streams too, though it keeps
/// nothing of them: a projection's checkpoint moves only with events it reads, and readers
/// that wait for every read model (`X-Min-Position`) must not wait on one that sees no order.
pub(crate) const PROJECTION: Projection = Projection::new(
    "orders",
    &[OrderId::STREAM_PREFIX, domain::TrainId::STREAM_PREFIX],
    &["orders", "payments"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    let events: Vec<&domain::OrderEvent> = events
        .iter()
        .filter_map(|event| match event {
            DomainEvent::Order(event) => Some(event),
            _ => None,
        })
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    // Orders this batch touches that earlier batches wrote (also while replaying: `fresh`
    // only says every event comes once).
    let ids: Vec<String> = events.iter().map(|e| e.order_id().to_string()).collect();
    let stored: Vec<(String, sqlx::types::Json<Order>)> = sqlx::query_as(&format!(
        "SELECT order_id, state FROM {schema}.orders WHERE order_id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut orders: BTreeMap<String, OrderState> = stored
        .into_iter()
        .map(|(id, order)| (id, OrderState::Placed(order.0)))
        .collect();
    for event in events {
        let state = orders.remove(event.order_id().as_str()).unwrap_or_default();
        orders.insert(event.order_id().to_string(), Orders::evolve(state, event));
    }
    let mut rows = Rows::default();
    for state in orders.into_values() {
        if let OrderState::Placed(order) = state {
            rows.push(order);
        }
    }
    rows.write(tx, schema).await
}

/// Column arrays of the orders and payments of a batch.
#[derive(Default)]
struct Rows {
    ids: Vec<String>,
    owners: Vec<i64>,
    statuses: Vec<&'static str>,
    pay_by: Vec<DateTime<Utc>>,
    warned: Vec<bool>,
    retry_at: Vec<Option<DateTime<Utc>>>,
    placed: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
    states: Vec<serde_json::Value>,
    payment_ids: Vec<String>,
    payment_orders: Vec<String>,
    payment_owners: Vec<i64>,
    amounts: Vec<i64>,
    currencies: Vec<String>,
    payment_statuses: Vec<&'static str>,
    refunded: Vec<i64>,
    payment_updated: Vec<DateTime<Utc>>,
}

impl Rows {
    fn push(&mut self, order: Order) {
        for payment in &order.payments {
            self.payment_ids.push(payment.payment_id.to_string());
            self.payment_orders.push(order.order_id.to_string());
            self.payment_owners.push(order.owner.0);
            self.amounts.push(payment.amount.amount);
            self.currencies
                .push(payment.amount.currency.as_str().to_owned());
            self.payment_statuses
                .push(order.payment_status(payment).as_str());
            self.refunded.push(payment.refunded);
            self.payment_updated.push(order.updated_at);
        }
        self.ids.push(order.order_id.to_string());
        self.owners.push(order.owner.0);
        self.statuses.push(order.status().as_str());
        self.pay_by.push(order.pay_by);
        self.warned.push(order.warned);
        self.retry_at.push(
            order
                .refunds
                .iter()
                .filter_map(|refund| match refund.status {
                    RefundStatus::Failed { retry_at, .. } => Some(retry_at),
                    _ => None,
                })
                .min(),
        );
        self.placed.push(order.placed_at);
        self.updated.push(order.updated_at);
        self.states
            .push(serde_json::to_value(&order).unwrap_or_default());
    }

    async fn write(self, tx: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO {schema}.orders
                 (order_id, owner_id, status, pay_by, warned, retry_at, placed_at, updated_at, state)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[],
                                  $5::bool[], $6::timestamptz[], $7::timestamptz[],
                                  $8::timestamptz[], $9::jsonb[])
             ON CONFLICT (order_id) DO UPDATE SET status = excluded.status,
                 warned = excluded.warned, retry_at = excluded.retry_at,
                 updated_at = excluded.updated_at, state = excluded.state"
        ))
        .bind(&self.ids)
        .bind(&self.owners)
        .bind(&self.statuses)
        .bind(&self.pay_by)
        .bind(&self.warned)
        .bind(&self.retry_at)
        .bind(&self.placed)
        .bind(&self.updated)
        .bind(&self.states)
        .execute(&mut *tx)
        .await?;
        if !self.payment_ids.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {schema}.payments
                     (payment_id, order_id, owner_id, amount, currency, status, refunded_amount, updated_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],
                                      $5::text[], $6::text[], $7::bigint[], $8::timestamptz[])
                 ON CONFLICT (payment_id) DO UPDATE SET status = excluded.status,
                     refunded_amount = excluded.refunded_amount, updated_at = excluded.updated_at"
            ))
            .bind(&self.payment_ids)
            .bind(&self.payment_orders)
            .bind(&self.payment_owners)
            .bind(&self.amounts)
            .bind(&self.currencies)
            .bind(&self.payment_statuses)
            .bind(&self.refunded)
            .bind(&self.payment_updated)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}
