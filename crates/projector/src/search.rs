//! The search read model: one row per stop of each train, keyed by station and the day the
//! train leaves its first stop, so "trains from A to B on this day" is two index lookups and a
//! join, not a scan of the schedule.
//!
//! Trains are registered and changed rarely, so events are applied one by one, in order.

use crate::Projection;
use domain::{DomainEvent, TrainEvent, TrainId, station_key, stops_of_route};
use sqlx::PgConnection;

/// `train_stops`: where each train calls, for search.
pub(crate) const PROJECTION: Projection = Projection::new(
    "search",
    &[TrainId::STREAM_PREFIX],
    &["train_stops"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    for &event in events {
        match event {
            DomainEvent::Train(TrainEvent::TrainRegistered {
                train_id,
                details,
                stops,
                ..
            }) => {
                let derived = stops.is_empty();
                let stops = if derived {
                    stops_of_route(details.route.as_str())
                } else {
                    stops.clone()
                };
                let date = details.departure_time.naive().date();
                insert_stops(tx, schema, train_id.0, &stops, date, derived).await?;
            }
            DomainEvent::Train(TrainEvent::TrainDetailsChanged {
                train_id, details, ..
            }) => {
                let date = details.departure_time.naive().date();
                // Stops read from the route follow it; stops given at registration stay.
                let derived: Option<bool> = sqlx::query_scalar(&format!(
                    "DELETE FROM {schema}.train_stops WHERE train_id = $1 AND derived RETURNING true"
                ))
                .bind(train_id.0)
                .fetch_optional(&mut *tx)
                .await?;
                if derived.is_some() {
                    let stops = stops_of_route(details.route.as_str());
                    insert_stops(tx, schema, train_id.0, &stops, date, true).await?;
                } else {
                    sqlx::query(&format!(
                        "UPDATE {schema}.train_stops SET departure_date = $2 WHERE train_id = $1"
                    ))
                    .bind(train_id.0)
                    .bind(date)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            DomainEvent::Train(TrainEvent::TrainRemoved { train_id, .. }) => {
                sqlx::query(&format!(
                    "DELETE FROM {schema}.train_stops WHERE train_id = $1"
                ))
                .bind(train_id.0)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn insert_stops(
    tx: &mut PgConnection,
    schema: &str,
    train_id: i64,
    stops: &[String],
    date: chrono::NaiveDate,
    derived: bool,
) -> Result<(), sqlx::Error> {
    let keys: Vec<String> = stops.iter().map(|s| station_key(s)).collect();
    let positions: Vec<i32> = (0..).take(stops.len()).collect();
    sqlx::query(&format!(
        "INSERT INTO {schema}.train_stops (train_id, position, station, station_key, departure_date, derived)
         SELECT $1, u.position, u.station, u.key, $5, $6
         FROM unnest($2::int[], $3::text[], $4::text[]) AS u(position, station, key)
         ON CONFLICT (train_id, position) DO NOTHING"
    ))
    .bind(train_id)
    .bind(&positions)
    .bind(stops)
    .bind(&keys)
    .bind(date)
    .bind(derived)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
