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

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use domain::{BookingCancelReason, DomainEvent, TrainEvent};
use projector::feed::FeedMessage;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// A message that could not be read; stored in `rejected_messages` with its batch.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub message_id: Option<String>,
    pub body: String,
    pub error: String,
}

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
    write_rejected(tx, &rejected).await?;
    record_loaded(tx, &fresh).await?;
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

struct Version {
    route: String,
    departure: NaiveDateTime,
    arrival: NaiveDateTime,
    capacity: i32,
    valid_from: DateTime<Utc>,
}

struct Booked {
    train_id: i64,
    seat_count: i32,
    at: DateTime<Utc>,
}

struct Cancelled {
    train_id: i64,
    at: DateTime<Utc>,
    reason: &'static str,
}

struct Seats {
    capacity: Option<i32>,
    seats_left: i32,
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
        self.write_versions(tx).await?;
        self.write_bookings(tx).await?;
        self.write_cancellations(tx).await?;
        self.write_seats(tx).await?;
        self.write_removals(tx).await
    }

    async fn write_versions(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.versions.is_empty() {
            return Ok(());
        }
        let routes: Vec<&str> = self
            .versions
            .values()
            .map(|v| v.route.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        sqlx::query(
            "INSERT INTO warehouse.dim_route (route) SELECT unnest($1::text[])
             ON CONFLICT (route) DO NOTHING",
        )
        .bind(&routes)
        .execute(&mut *tx)
        .await?;

        let mut columns = VersionColumns::default();
        for ((train_id, at), v) in &self.versions {
            columns.train_ids.push(*train_id);
            columns.routes.push(v.route.as_str());
            columns.departures.push(v.departure);
            columns.arrivals.push(v.arrival);
            columns.capacities.push(v.capacity);
            columns.valid_from.push(v.valid_from);
            columns.commits.push(at.0);
            columns.prepares.push(at.1);
        }
        sqlx::query(
            "INSERT INTO warehouse.dim_train (train_id, route_key, departure_time, arrival_time,
                 capacity, valid_from, from_commit, from_prepare)
             SELECT u.train_id, r.route_key, u.departure, u.arrival, u.capacity, u.valid_from,
                    u.c, u.p
             FROM unnest($1::bigint[], $2::text[], $3::timestamp[], $4::timestamp[],
                         $5::integer[], $6::timestamptz[], $7::bigint[], $8::bigint[])
                  AS u(train_id, route, departure, arrival, capacity, valid_from, c, p)
             JOIN warehouse.dim_route r ON r.route = u.route
             ON CONFLICT (train_id, from_commit, from_prepare) DO NOTHING",
        )
        .bind(&columns.train_ids)
        .bind(&columns.routes)
        .bind(&columns.departures)
        .bind(&columns.arrivals)
        .bind(&columns.capacities)
        .bind(&columns.valid_from)
        .bind(&columns.commits)
        .bind(&columns.prepares)
        .execute(&mut *tx)
        .await?;

        // Each train's versions close where the next begins; only the last is current.
        let mut trains = columns.train_ids.clone();
        trains.dedup();
        sqlx::query(
            "UPDATE warehouse.dim_train d
             SET valid_to = n.next_from, is_current = n.next_commit IS NULL
             FROM (SELECT train_version_key,
                          lead(valid_from) OVER (PARTITION BY train_id
                                                 ORDER BY from_commit, from_prepare) AS next_from,
                          lead(from_commit) OVER (PARTITION BY train_id
                                                  ORDER BY from_commit, from_prepare) AS next_commit
                   FROM warehouse.dim_train WHERE train_id = ANY($1)) n
             WHERE d.train_version_key = n.train_version_key
               AND (d.valid_to IS DISTINCT FROM n.next_from
                    OR d.is_current <> (n.next_commit IS NULL))",
        )
        .bind(&trains)
        .execute(&mut *tx)
        .await?;

        self.resolve_late(tx).await
    }

    /// Rows already stored that a version of this batch should have preceded (it arrived out
    /// of order) are resolved again. In position order this matches nothing.
    async fn resolve_late(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut first: BTreeMap<i64, At> = BTreeMap::new();
        for (train_id, at) in self.versions.keys() {
            first.entry(*train_id).or_insert(*at);
        }
        let trains: Vec<i64> = first.keys().copied().collect();
        let commits: Vec<i64> = first.values().map(|a| a.0).collect();
        let prepares: Vec<i64> = first.values().map(|a| a.1).collect();
        sqlx::query(
            "UPDATE warehouse.fact_booking f
             SET train_version_key = r.train_version_key, route_key = r.route_key,
                 departure_time = r.departure_time,
                 departure_date_key = to_char(r.departure_time, 'YYYYMMDD')::integer,
                 lead_time_minutes = floor(extract(epoch FROM r.departure_time
                                      - (f.booked_at AT TIME ZONE 'UTC')) / 60)::integer
             FROM (SELECT b.booking_id, v.*
                   FROM warehouse.fact_booking b
                   JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS n(train_id, c, p)
                     ON b.train_id = n.train_id AND (b.booked_commit, b.booked_prepare) > (n.c, n.p)
                   CROSS JOIN LATERAL (
                       SELECT d.train_version_key, d.route_key, d.departure_time
                       FROM warehouse.dim_train d
                       WHERE d.train_id = b.train_id
                         AND (d.from_commit, d.from_prepare) <= (b.booked_commit, b.booked_prepare)
                       ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v) r
             WHERE f.booking_id = r.booking_id",
        )
        .bind(&trains)
        .bind(&commits)
        .bind(&prepares)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE warehouse.fact_train_seats_daily s SET capacity = r.capacity
             FROM (SELECT x.train_id, x.date_key, v.capacity
                   FROM warehouse.fact_train_seats_daily x
                   JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS n(train_id, c, p)
                     ON x.train_id = n.train_id
                    AND (x.commit_position, x.prepare_position) > (n.c, n.p)
                   CROSS JOIN LATERAL (
                       SELECT d.capacity FROM warehouse.dim_train d
                       WHERE d.train_id = x.train_id
                         AND (d.from_commit, d.from_prepare) <= (x.commit_position, x.prepare_position)
                       ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v) r
             WHERE s.train_id = r.train_id AND s.date_key = r.date_key
               AND s.capacity IS DISTINCT FROM r.capacity",
        )
        .bind(&trains)
        .bind(&commits)
        .bind(&prepares)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn write_bookings(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.bookings.is_empty() {
            return Ok(());
        }
        let rows = &self.bookings;
        let ids = column(rows, |id, _| *id);
        let trains = column(rows, |_, (booked, _)| booked.train_id);
        let times = column(rows, |_, (booked, _)| booked.at);
        let days = column(rows, |_, (booked, _)| date_key(booked.at));
        let seat_counts = column(rows, |_, (booked, _)| booked.seat_count);
        let (commits, prepares) = positions(rows);
        sqlx::query(
            "INSERT INTO warehouse.fact_booking AS f (booking_id, train_id, train_version_key,
                 route_key, booked_at, booked_date_key, departure_time, departure_date_key,
                 lead_time_minutes, booked_commit, booked_prepare, seat_count)
             SELECT u.booking_id, u.train_id, v.train_version_key, v.route_key, u.booked_at,
                    u.day, v.departure_time, to_char(v.departure_time, 'YYYYMMDD')::integer,
                    floor(extract(epoch FROM v.departure_time
                          - (u.booked_at AT TIME ZONE 'UTC')) / 60)::integer,
                    u.c, u.p, u.seat_count
             FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::integer[],
                         $5::bigint[], $6::bigint[], $7::integer[])
                  AS u(booking_id, train_id, booked_at, day, c, p, seat_count)
             LEFT JOIN LATERAL (
                 SELECT d.train_version_key, d.route_key, d.departure_time
                 FROM warehouse.dim_train d
                 WHERE d.train_id = u.train_id AND (d.from_commit, d.from_prepare) <= (u.c, u.p)
                 ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v ON true
             ON CONFLICT (booking_id) DO UPDATE SET
                 train_id = excluded.train_id, train_version_key = excluded.train_version_key,
                 route_key = excluded.route_key, booked_at = excluded.booked_at,
                 booked_date_key = excluded.booked_date_key,
                 departure_time = excluded.departure_time,
                 departure_date_key = excluded.departure_date_key,
                 lead_time_minutes = excluded.lead_time_minutes,
                 booked_commit = excluded.booked_commit, booked_prepare = excluded.booked_prepare,
                 seat_count = excluded.seat_count
             WHERE f.booked_commit IS NULL
                OR (f.booked_commit, f.booked_prepare) < (excluded.booked_commit, excluded.booked_prepare)",
        )
        .bind(&ids)
        .bind(&trains)
        .bind(&times)
        .bind(&days)
        .bind(&commits)
        .bind(&prepares)
        .bind(&seat_counts)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn write_cancellations(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.cancellations.is_empty() {
            return Ok(());
        }
        let rows = &self.cancellations;
        let ids = column(rows, |id, _| *id);
        let trains = column(rows, |_, (cancelled, _)| cancelled.train_id);
        let times = column(rows, |_, (cancelled, _)| cancelled.at);
        let days = column(rows, |_, (cancelled, _)| date_key(cancelled.at));
        let reasons = column(rows, |_, (cancelled, _)| cancelled.reason);
        let (commits, prepares) = positions(rows);
        sqlx::query(
            "INSERT INTO warehouse.fact_booking AS f (booking_id, train_id, cancelled_at,
                 cancelled_date_key, cancel_reason, cancelled_commit, cancelled_prepare)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::integer[],
                                  $5::text[], $6::bigint[], $7::bigint[])
             ON CONFLICT (booking_id) DO UPDATE SET
                 cancelled_at = excluded.cancelled_at,
                 cancelled_date_key = excluded.cancelled_date_key,
                 cancel_reason = excluded.cancel_reason,
                 cancelled_commit = excluded.cancelled_commit,
                 cancelled_prepare = excluded.cancelled_prepare
             WHERE f.cancelled_commit IS NULL
                OR (f.cancelled_commit, f.cancelled_prepare)
                   < (excluded.cancelled_commit, excluded.cancelled_prepare)",
        )
        .bind(&ids)
        .bind(&trains)
        .bind(&times)
        .bind(&days)
        .bind(&reasons)
        .bind(&commits)
        .bind(&prepares)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn write_seats(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.seats.is_empty() {
            return Ok(());
        }
        let rows = &self.seats;
        let trains = column(rows, |(train_id, _), _| *train_id);
        let days = column(rows, |(_, day), _| *day);
        let capacities = column(rows, |_, (seats, _)| seats.capacity);
        let left = column(rows, |_, (seats, _)| seats.seats_left);
        let (commits, prepares) = positions(rows);
        sqlx::query(
            "INSERT INTO warehouse.fact_train_seats_daily AS s (train_id, date_key, capacity,
                 seats_left, commit_position, prepare_position)
             SELECT u.train_id, u.day, coalesce(u.capacity, v.capacity), u.seats_left, u.c, u.p
             FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[],
                         $5::bigint[], $6::bigint[]) AS u(train_id, day, capacity, seats_left, c, p)
             LEFT JOIN LATERAL (
                 SELECT d.capacity FROM warehouse.dim_train d
                 WHERE d.train_id = u.train_id AND (d.from_commit, d.from_prepare) <= (u.c, u.p)
                 ORDER BY d.from_commit DESC, d.from_prepare DESC LIMIT 1) v ON true
             ON CONFLICT (train_id, date_key) DO UPDATE SET
                 capacity = excluded.capacity, seats_left = excluded.seats_left,
                 commit_position = excluded.commit_position,
                 prepare_position = excluded.prepare_position
             WHERE (s.commit_position, s.prepare_position)
                   < (excluded.commit_position, excluded.prepare_position)",
        )
        .bind(&trains)
        .bind(&days)
        .bind(&capacities)
        .bind(&left)
        .bind(&commits)
        .bind(&prepares)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn write_removals(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.removals.is_empty() {
            return Ok(());
        }
        let rows = &self.removals;
        let trains = column(rows, |id, _| *id);
        let times = column(rows, |_, (at, _)| *at);
        let days = column(rows, |_, (at, _)| date_key(*at));
        let (commits, prepares) = positions(rows);
        sqlx::query(
            "INSERT INTO warehouse.train_removals AS r (train_id, removed_at, removed_date_key,
                 commit_position, prepare_position)
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::integer[], $4::bigint[],
                                  $5::bigint[])
             ON CONFLICT (train_id) DO UPDATE SET
                 removed_at = excluded.removed_at, removed_date_key = excluded.removed_date_key,
                 commit_position = excluded.commit_position,
                 prepare_position = excluded.prepare_position
             WHERE (r.commit_position, r.prepare_position)
                   < (excluded.commit_position, excluded.prepare_position)",
        )
        .bind(&trains)
        .bind(&times)
        .bind(&days)
        .bind(&commits)
        .bind(&prepares)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct VersionColumns<'a> {
    train_ids: Vec<i64>,
    routes: Vec<&'a str>,
    departures: Vec<NaiveDateTime>,
    arrivals: Vec<NaiveDateTime>,
    capacities: Vec<i32>,
    valid_from: Vec<DateTime<Utc>>,
    commits: Vec<i64>,
    prepares: Vec<i64>,
}

async fn write_rejected(tx: &mut PgConnection, rejected: &[Rejected]) -> Result<(), sqlx::Error> {
    if rejected.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        count = rejected.len(),
        "unreadable feed messages stored in warehouse.rejected_messages"
    );
    let ids: Vec<Option<&str>> = rejected.iter().map(|r| r.message_id.as_deref()).collect();
    let bodies: Vec<&str> = rejected.iter().map(|r| r.body.as_str()).collect();
    let errors: Vec<&str> = rejected.iter().map(|r| r.error.as_str()).collect();
    sqlx::query(
        "INSERT INTO warehouse.rejected_messages (message_id, body, error)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
    )
    .bind(&ids)
    .bind(&bodies)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Last statement of the batch, so `loaded_at` is as close to the commit as it gets.
async fn record_loaded(tx: &mut PgConnection, fresh: &[&FeedMessage]) -> Result<(), sqlx::Error> {
    if fresh.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = fresh.iter().map(|m| m.id).collect();
    let types: Vec<&str> = fresh.iter().map(|m| m.event_type.as_str()).collect();
    let commits: Vec<i64> = fresh.iter().map(|m| At::of(m).0).collect();
    let prepares: Vec<i64> = fresh.iter().map(|m| At::of(m).1).collect();
    let recorded: Vec<DateTime<Utc>> = fresh.iter().map(|m| m.recorded_at).collect();
    // DO NOTHING: a second etl instance may have loaded the same redelivered event meanwhile;
    // its rows are equal, so either write is right.
    sqlx::query(
        "INSERT INTO warehouse.loaded_events (event_id, event_type, commit_position,
             prepare_position, recorded_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                              $5::timestamptz[])
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&commits)
    .bind(&prepares)
    .bind(&recorded)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
