//! Loading a batch of feed messages into the star schema in one transaction.
//!
//! Two rules make loading safe to repeat and to reorder. Repeats: every event id is recorded
//! in `loaded_events`, and a batch skips ids already there (a redelivery after a crash before
//! the ack changes nothing). Reorders: every row that an event sets remembers the log position
//! that set it, and an upsert only overwrites a row whose position is older; a booking and its
//! cancellation fill separate columns, and a train version that arrives late re-resolves the
//! rows that should have seen it. The live etl and backfill both load through here, so they
//! build the same warehouse. Batches load one at a time (a transaction-scoped advisory lock),
//! so concurrent loaders never miss each other's uncommitted rows.
//!
//! The writers, one per star-schema table, live in `load/`; this file decides what a batch
//! writes (the `Rows` it folds the events into) and in which order.

mod bookings;
mod cancellations;
mod loaded_events;
mod rejected_messages;
mod removals;
mod routes;
mod seats_daily;
mod trains;

pub use rejected_messages::Rejected;

use bookings::Booked;
use cancellations::Cancelled;
use chrono::{DateTime, Datelike, Utc};
use domain::{BookingCancelReason, DomainEvent, TrainEvent};
use projector::feed::FeedMessage;
use seats_daily::Seats;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use trains::Version;
use uuid::Uuid;

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Events applied for the first time.
    pub fresh: usize,
    /// Events skipped because they were loaded before (or twice in this batch).
    pub repeated: usize,
}

/// Loads `messages` in one transaction.
pub async fn load(pool: &PgPool, messages: &[FeedMessage]) -> Result<Loaded, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let loaded = load_in(&mut tx, messages, &[]).await?;
    tx.commit().await?;
    Ok(loaded)
}

/// Loads `messages` (and records `rejected`) inside the caller's transaction.
#[tracing::instrument(skip_all, fields(messages = messages.len()))]
pub async fn load_in(
    tx: &mut PgConnection,
    messages: &[FeedMessage],
    rejected: &[Rejected],
) -> Result<Loaded, sqlx::Error> {
    // One loading transaction at a time per warehouse (several consumers, several etl
    // processes, a backfill beside the live etl). Under READ COMMITTED two concurrent batches
    // would not see each other's train versions: both could leave a version current, or a
    // seat row without its capacity. Loads are short; receiving and parsing still overlap.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('warehouse-load'))")
        .execute(&mut *tx)
        .await?;
    let mut seen = HashSet::with_capacity(messages.len());
    let unique: Vec<&FeedMessage> = messages.iter().filter(|m| seen.insert(m.id)).collect();
    let ids: Vec<Uuid> = unique.iter().map(|m| m.id).collect();
    let known: HashSet<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM warehouse.loaded_events WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let fresh: Vec<&FeedMessage> = unique
        .into_iter()
        .filter(|m| !known.contains(&m.id))
        .collect();

    let mut rows = Rows::default();
    let mut rejected = rejected.to_vec();
    for message in &fresh {
        match DomainEvent::decode(
            &message.event_type,
            message.schema_version,
            message.data.clone(),
        ) {
            Ok(event) => rows.add(message, &event),
            Err(e) => rejected.push(Rejected {
                message_id: Some(message.id.to_string()),
                body: message.data.to_string(),
                error: e.to_string(),
            }),
        }
    }
    rows.write(tx).await?;
    rejected_messages::write(tx, &rejected).await?;
    loaded_events::record(tx, &fresh).await?;
    Ok(Loaded {
        fresh: fresh.len(),
        repeated: messages.len() - fresh.len(),
    })
}

/// A log position as the warehouse stores it: two bigints compared as a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At(i64, i64);

impl At {
    fn of(message: &FeedMessage) -> Self {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self(
            as_i64(message.position.commit),
            as_i64(message.position.prepare),
        )
    }
}

fn date_key(at: DateTime<Utc>) -> i32 {
    let day = at.date_naive();
    day.year() * 10_000 + i32::try_from(day.month() * 100 + day.day()).unwrap_or_default()
}

/// One column of `rows`, in key order: what an `unnest($n::type[])` parameter binds.
fn column<K, V, T>(rows: &BTreeMap<K, V>, value: impl Fn(&K, &V) -> T) -> Vec<T> {
    rows.iter().map(|(key, row)| value(key, row)).collect()
}

/// The log positions of `rows`, in key order, as the commit and prepare columns.
fn positions<K, V>(rows: &BTreeMap<K, (V, At)>) -> (Vec<i64>, Vec<i64>) {
    rows.values().map(|(_, at)| (at.0, at.1)).unzip()
}

/// A batch folded into the rows it writes. Keyed maps keep one row per key (the newest by
/// position), since one upsert statement may not touch a row twice.
#[derive(Default)]
struct Rows {
    versions: BTreeMap<(i64, At), Version>,
    removals: BTreeMap<i64, (DateTime<Utc>, At)>,
    bookings: BTreeMap<i64, (Booked, At)>,
    cancellations: BTreeMap<i64, (Cancelled, At)>,
    seats: BTreeMap<(i64, i32), (Seats, At)>,
}

fn keep_newest<K: Ord, V>(map: &mut BTreeMap<K, (V, At)>, key: K, value: V, at: At) {
    match map.get(&key) {
        Some((_, existing)) if *existing >= at => {}
        _ => {
            map.insert(key, (value, at));
        }
    }
}

fn seats(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Rows {
    fn add(&mut self, message: &FeedMessage, event: &DomainEvent) {
        let at = At::of(message);
        let DomainEvent::Train(event) = event else {
            // Lobbies carry nothing the warehouse reports on (yet).
            return;
        };
        match event {
            TrainEvent::TrainRegistered {
                train_id,
                details,
                capacity,
                registered_at,
            } => {
                self.version(train_id.0, details, *capacity, *registered_at, at);
                let left = Seats {
                    capacity: Some(seats(*capacity)),
                    seats_left: seats(*capacity),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*registered_at)),
                    left,
                    at,
                );
            }
            TrainEvent::TrainDetailsChanged {
                train_id,
                details,
                capacity,
                seats_left,
                changed_at,
            } => {
                self.version(train_id.0, details, *capacity, *changed_at, at);
                let left = Seats {
                    capacity: Some(seats(*capacity)),
                    seats_left: seats(*seats_left),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*changed_at)),
                    left,
                    at,
                );
            }
            TrainEvent::SeatBooked {
                train_id,
                booking_id,
                seat_count,
                seats_left,
                booked_at,
                ..
            } => {
                let booked = Booked {
                    train_id: train_id.0,
                    seat_count: seats(*seat_count),
                    at: *booked_at,
                };
                keep_newest(&mut self.bookings, booking_id.0, booked, at);
                let left = Seats {
                    capacity: None,
                    seats_left: seats(*seats_left),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*booked_at)),
                    left,
                    at,
                );
            }
            TrainEvent::BookingCancelled {
                train_id,
                booking_id,
                reason,
                seats_left,
                cancelled_at,
            } => {
                let cancelled = Cancelled {
                    train_id: train_id.0,
                    at: *cancelled_at,
                    reason: match reason {
                        BookingCancelReason::Requested => "requested",
                        BookingCancelReason::TrainRemoved => "train_removed",
                    },
                };
                keep_newest(&mut self.cancellations, booking_id.0, cancelled, at);
                let left = Seats {
                    capacity: None,
                    seats_left: seats(*seats_left),
                };
                keep_newest(
                    &mut self.seats,
                    (train_id.0, date_key(*cancelled_at)),
                    left,
                    at,
                );
            }
            TrainEvent::TrainRemoved {
                train_id,
                removed_at,
            } => keep_newest(&mut self.removals, train_id.0, *removed_at, at),
            // Who holds a booking is personal data; the warehouse does not keep it.
            TrainEvent::BookingHolderChanged { .. } => {}
        }
    }

    fn version(
        &mut self,
        train_id: i64,
        details: &domain::TrainDetails,
        capacity: u32,
        valid_from: DateTime<Utc>,
        at: At,
    ) {
        let version = Version {
            route: details.route.as_str().to_owned(),
            departure: details.departure_time.naive(),
            arrival: details.arrival_time.naive(),
            capacity: seats(capacity),
            valid_from,
        };
        self.versions.insert((train_id, at), version);
    }

    /// Trains first (bookings and seats look their version up), then everything else.
    async fn write(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        trains::write(tx, &self.versions).await?;
        bookings::write(tx, &self.bookings).await?;
        cancellations::write(tx, &self.cancellations).await?;
        seats_daily::write(tx, &self.seats).await?;
        removals::write(tx, &self.removals).await
    }
}
