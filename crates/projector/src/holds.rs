//! The holds read model: one row per hold, live or ended, for `GET /holds/{id}` and for the
//! expiry timer, which asks for the live holds whose time is up.
//!
//! Holds come and go in bursts on a busy train, so a batch is folded in memory first: a hold
//! made and released within one batch is written once, already released.

use crate::Projection;
use chrono::{DateTime, Utc};
use domain::{DomainEvent, TrainEvent, TrainId};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// `holds`: every hold and its status.
pub(crate) const PROJECTION: Projection = Projection::new(
    "holds",
    &[TrainId::STREAM_PREFIX],
    &["holds"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

struct NewHold {
    train_id: i64,
    owner_id: i64,
    seats: Vec<String>,
    quote: serde_json::Value,
    expires_at: DateTime<Utc>,
    held_at: DateTime<Utc>,
}

enum Change {
    Insert(NewHold, &'static str),
    Status(&'static str),
}

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    // Applied after the inserts, which may hold the extended holds.
    let mut extended: (Vec<String>, Vec<String>, Vec<DateTime<Utc>>) = Default::default();
    for &event in events {
        let (hold_id, status) = match event {
            DomainEvent::Train(TrainEvent::SeatsHeld {
                train_id,
                hold_id,
                owner,
                seats,
                quote,
                expires_at,
                held_at,
                ..
            }) => {
                let hold = NewHold {
                    train_id: train_id.0,
                    owner_id: owner.0,
                    seats: seats.iter().map(ToString::to_string).collect(),
                    quote: serde_json::to_value(quote).unwrap_or_default(),
                    expires_at: *expires_at,
                    held_at: *held_at,
                };
                changes.insert(hold_id.to_string(), Change::Insert(hold, "active"));
                continue;
            }
            DomainEvent::Train(TrainEvent::HoldReleased { hold_id, .. }) => (hold_id, "released"),
            DomainEvent::Train(TrainEvent::HoldExpired { hold_id, .. }) => (hold_id, "expired"),
            DomainEvent::Train(TrainEvent::OrderTicketsBooked {
                hold_id,
                hold_live: true,
                ..
            }) => (hold_id, "purchased"),
            DomainEvent::Train(TrainEvent::HoldExtended {
                hold_id,
                order_id,
                expires_at,
                ..
            }) => {
                extended.0.push(hold_id.to_string());
                extended.1.push(order_id.to_string());
                extended.2.push(*expires_at);
                continue;
            }
            _ => continue,
        };
        match changes.get_mut(hold_id.as_str()) {
            Some(Change::Insert(_, current) | Change::Status(current)) => *current = status,
            None => {
                changes.insert(hold_id.to_string(), Change::Status(status));
            }
        }
    }

    let mut new = NewRows::default();
    let (mut ended, mut statuses) = (Vec::new(), Vec::new());
    for (hold_id, change) in changes {
        match change {
            Change::Insert(hold, status) => new.push(hold_id, hold, status),
            Change::Status(status) => {
                ended.push(hold_id);
                statuses.push(status);
            }
        }
    }
    if !new.ids.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {schema}.holds (hold_id, train_id, owner_id, seats, quote, expires_at, status, held_at)
             SELECT u.id, u.train, u.owner, ARRAY(SELECT jsonb_array_elements_text(u.seats)), u.quote,
                    u.expires, u.status, u.held
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::jsonb[], $5::jsonb[],
                         $6::timestamptz[], $7::text[], $8::timestamptz[])
                  AS u(id, train, owner, seats, quote, expires, status, held)
             ON CONFLICT (hold_id) DO UPDATE SET status = excluded.status"
        ))
        .bind(&new.ids)
        .bind(&new.trains)
        .bind(&new.owners)
        .bind(&new.seats)
        .bind(&new.quotes)
        .bind(&new.expiries)
        .bind(&new.statuses)
        .bind(&new.held)
        .execute(&mut *tx)
        .await?;
    }
    if !ended.is_empty() {
        sqlx::query(&format!(
            "UPDATE {schema}.holds h SET status = u.status
             FROM unnest($1::text[], $2::text[]) AS u(id, status) WHERE h.hold_id = u.id"
        ))
        .bind(&ended)
        .bind(&statuses)
        .execute(&mut *tx)
        .await?;
    }
    if !extended.0.is_empty() {
        sqlx::query(&format!(
            "UPDATE {schema}.holds h SET order_id = u.order_id, expires_at = u.until
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, order_id, until)
             WHERE h.hold_id = u.id"
        ))
        .bind(&extended.0)
        .bind(&extended.1)
        .bind(&extended.2)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Column arrays for one multi-row insert. Each hold's seats travel as a JSON array, since
/// `unnest` cannot take an array of arrays of different lengths.
#[derive(Default)]
struct NewRows {
    ids: Vec<String>,
    trains: Vec<i64>,
    owners: Vec<i64>,
    seats: Vec<serde_json::Value>,
    quotes: Vec<serde_json::Value>,
    expiries: Vec<DateTime<Utc>>,
    statuses: Vec<&'static str>,
    held: Vec<DateTime<Utc>>,
}

impl NewRows {
    fn push(&mut self, hold_id: String, hold: NewHold, status: &'static str) {
        self.ids.push(hold_id);
        self.trains.push(hold.train_id);
        self.owners.push(hold.owner_id);
        self.seats.push(serde_json::json!(hold.seats));
        self.quotes.push(hold.quote);
        self.expiries.push(hold.expires_at);
        self.statuses.push(status);
        self.held.push(hold.held_at);
    }
}
