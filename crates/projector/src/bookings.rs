//! The bookings read model: one row per active booking.
//!
//! An account's booking keeps its owner's id and its traveller's name as the log has it,
//! sealed: the read model never holds a readable name of an account's traveller, so erasing
//! the account (destroying its key) needs no change here.
//!
//! A batch is folded in memory first: a booking made and cancelled within one batch never
//! touches the table, and inserts, renames and deletes each go out as one statement.

use crate::Projection;
use chrono::{DateTime, Utc};
use domain::TrainId;
use domain::{DomainEvent, Money, TrainEvent, Traveller};
use sqlx::PgConnection;
use std::collections::BTreeMap;

enum Change {
    Insert {
        train_id: i64,
        user_credentials: String,
        owner_id: Option<i64>,
        booked_at: DateTime<Utc>,
        seat: Option<String>,
        price: Option<Money>,
        /// The order it is a ticket of.
        order_id: Option<String>,
    },
    Holder(String),
    Delete,
}

/// Applies a batch. `fresh`: the table is being filled by a replay, which applies every event
/// exactly once into tables that start empty, so new bookings can be streamed in with COPY
/// (about twice as fast as the upsert the live path uses).
/// `bookings`: active bookings.
pub(crate) const PROJECTION: Projection = Projection::new(
    "bookings",
    &[TrainId::STREAM_PREFIX],
    &["bookings"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    fresh: bool,
) -> Result<(), sqlx::Error> {
    let mut changes: BTreeMap<i64, Change> = BTreeMap::new();
    for &event in events {
        match event {
            DomainEvent::Train(TrainEvent::SeatBooked {
                train_id,
                booking_id,
                user_credentials,
                booked_at,
                seat,
                price,
                order_id,
                ..
            }) => {
                let insert = Change::Insert {
                    order_id: order_id.as_ref().map(ToString::to_string),
                    train_id: train_id.0,
                    user_credentials: stored(user_credentials),
                    owner_id: user_credentials.owner().map(|owner| owner.0),
                    booked_at: *booked_at,
                    seat: seat.as_ref().map(ToString::to_string),
                    price: price.clone(),
                };
                changes.insert(booking_id.0, insert);
            }
            DomainEvent::Train(TrainEvent::BookingHolderChanged {
                booking_id,
                user_credentials,
                ..
            }) => {
                match changes
                    .entry(booking_id.0)
                    .or_insert(Change::Holder(String::new()))
                {
                    Change::Insert {
                        user_credentials: current,
                        ..
                    }
                    | Change::Holder(current) => {
                        *current = stored(user_credentials);
                    }
                    Change::Delete => {}
                }
            }
            DomainEvent::Train(TrainEvent::BookingCancelled { booking_id, .. }) => {
                changes.insert(booking_id.0, Change::Delete);
            }
            _ => {}
        }
    }

    let mut new = NewRows::default();
    let (mut renamed, mut new_holders, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    for (id, change) in changes {
        match change {
            Change::Insert {
                train_id,
                user_credentials,
                owner_id,
                booked_at,
                seat,
                price,
                order_id,
            } => {
                new.orders.push(order_id);
                new.ids.push(id);
                new.trains.push(train_id);
                new.users.push(user_credentials);
                new.owners.push(owner_id);
                new.times.push(booked_at);
                new.seats.push(seat);
                new.amounts.push(price.as_ref().map(|p| p.amount));
                new.currencies
                    .push(price.map(|p| p.currency.as_str().to_owned()));
            }
            Change::Holder(user) => {
                renamed.push(id);
                new_holders.push(user);
            }
            Change::Delete => deletes.push(id),
        }
    }
    if !new.ids.is_empty() && fresh {
        copy_in(tx, schema, &new).await?;
    } else if !new.ids.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {schema}.bookings
                 (id, train_id, user_credentials, owner_id, booked_at, seat, price_amount, price_currency, order_id)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[],
                                  $5::timestamptz[], $6::text[], $7::bigint[], $8::text[], $9::text[])
             ON CONFLICT (id) DO UPDATE SET user_credentials = excluded.user_credentials",
        ))
        .bind(&new.ids)
        .bind(&new.trains)
        .bind(&new.users)
        .bind(&new.owners)
        .bind(&new.times)
        .bind(&new.seats)
        .bind(&new.amounts)
        .bind(&new.currencies)
        .bind(&new.orders)
        .execute(&mut *tx)
        .await?;
    }
    if !renamed.is_empty() {
        sqlx::query(&format!(
            "UPDATE {schema}.bookings b SET user_credentials = u.user_credentials
             FROM unnest($1::bigint[], $2::text[]) AS u(id, user_credentials) WHERE b.id = u.id",
        ))
        .bind(&renamed)
        .bind(&new_holders)
        .execute(&mut *tx)
        .await?;
    }
    if !deletes.is_empty() {
        sqlx::query(&format!("DELETE FROM {schema}.bookings WHERE id = ANY($1)"))
            .bind(&deletes)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Column arrays of the new bookings of a batch.
#[derive(Default)]
struct NewRows {
    ids: Vec<i64>,
    trains: Vec<i64>,
    users: Vec<String>,
    owners: Vec<Option<i64>>,
    times: Vec<DateTime<Utc>>,
    seats: Vec<Option<String>>,
    amounts: Vec<Option<i64>>,
    currencies: Vec<Option<String>>,
    orders: Vec<Option<String>>,
}

/// Streams new rows in as CSV (quoted fields, so any text in the credentials is safe).
async fn copy_in(tx: &mut PgConnection, schema: &str, new: &NewRows) -> Result<(), sqlx::Error> {
    use std::fmt::Write;
    // An empty unquoted field is NULL in CSV; seats, currencies and order ids are plain
    // letters, digits and dashes, so they need no quoting.
    fn or_null<T: ToString>(value: Option<&T>) -> String {
        value.map(ToString::to_string).unwrap_or_default()
    }
    let mut csv = String::with_capacity(new.ids.len() * 100);
    for (i, id) in new.ids.iter().enumerate() {
        let user = new.users[i].replace('"', "\"\"");
        // Microseconds, truncated as the binary encoding of the live path truncates them.
        let time = new.times[i].format("%Y-%m-%dT%H:%M:%S%.6f%:z");
        let (train, owner) = (new.trains[i], or_null(new.owners[i].as_ref()));
        let (seat, amount) = (
            or_null(new.seats[i].as_ref()),
            or_null(new.amounts[i].as_ref()),
        );
        let currency = or_null(new.currencies[i].as_ref());
        let order = or_null(new.orders[i].as_ref());
        // Writing to a String cannot fail.
        let _ = writeln!(
            csv,
            "{id},{train},\"{user}\",{owner},{time},{seat},{amount},{currency},{order}"
        );
    }
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {schema}.bookings (id, train_id, user_credentials, owner_id, booked_at, seat, price_amount, price_currency, order_id) FROM STDIN (FORMAT csv)"
        ))
        .await?;
    copy.send(csv.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// The `user_credentials` column of a traveller: the name, or an account's sealed name.
fn stored(traveller: &Traveller) -> String {
    match traveller {
        Traveller::Named(name) => name.clone(),
        Traveller::Owned { name, .. } => name.0.clone(),
    }
}
