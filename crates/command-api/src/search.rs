//! `GET /trains/search?from=&to=&date=`: trains that call at `from` and later at `to`, leaving
//! their first stop on `date`, soonest first, with the seats left in each class and the
//! lowest price a hold made now would pay.
//!
//! Served by the `search` projection's `train_stops` table: one index lookup per station on
//! (station key, day), joined on the train, never a scan of the schedule.

use crate::AppState;
use crate::seats::{SEATING, Seating, TakenSeat, occupancy, taken_seats};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use domain::{SeatClass, TravelTime, station_key};
use http_kit::{ApiError, FieldError, Page};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/trains/search", get(search))
}

/// One train found.
#[derive(Serialize, ToSchema)]
pub(crate) struct Found {
    id: i64,
    route: String,
    #[schema(value_type = String, example = "2024-09-25T06:30")]
    departure_time: TravelTime,
    #[schema(value_type = String, example = "2024-09-25T18:45")]
    arrival_time: TravelTime,
    /// The stop asked for as `from`, spelt as the train lists it.
    #[schema(example = "Chisinau")]
    from: String,
    #[schema(example = "București")]
    to: String,
    seats_left_by_class: SeatsLeft,
    /// The cheapest seat a hold made now would get; `null` when no seat is left.
    lowest_price: Option<crate::bookings::PriceView>,
}

#[derive(Serialize, ToSchema, Default)]
pub(crate) struct SeatsLeft {
    first: u32,
    second: u32,
}

/// `from`, `to` and `date`, each checked.
struct Query {
    from: (String, String),
    to: (String, String),
    date: NaiveDate,
}

impl Query {
    fn parse(parts: &Parts) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            axum::extract::Query::try_from_uri(&parts.uri).map_or_else(|_| Vec::new(), |q| q.0);
        let raw: HashMap<&str, &str> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut errors = Vec::new();
        let mut station = |name: &'static str| {
            let value = raw.get(name).map(|v| v.trim()).unwrap_or_default();
            let key = station_key(value);
            if key.is_empty() || value.chars().count() > domain::MAX_STATION_CHARS {
                errors.push(FieldError::new(
                    &["query", name],
                    "a station name of 1 to 100 characters is required",
                    "value_error",
                ));
            }
            (value.to_owned(), key)
        };
        let (from, to) = (station("from"), station("to"));
        let date = raw
            .get("date")
            .and_then(|raw| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok());
        if date.is_none() {
            errors.push(FieldError::new(
                &["query", "date"],
                "a date such as 2024-09-25 is required",
                "value_error",
            ));
        }
        match date {
            Some(date) if errors.is_empty() => Ok(Self { from, to, date }),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Hit {
    id: i64,
    route: String,
    departure_time: NaiveDateTime,
    arrival_time: NaiveDateTime,
    from_station: String,
    to_station: String,
}

#[utoipa::path(
    get, path = "/trains/search", operation_id = "search_trains", tag = "seats",
    params(
        ("from" = String, Query, description = "A station the train calls at; case and accents do not matter"),
        ("to" = String, Query, description = "A station the train calls at after `from`"),
        ("date" = String, Query, description = "The day the train leaves its first stop, YYYY-MM-DD"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0 to 10000; default 0"),
    ),
    responses(
        (status = 200, description = "Soonest departure first", body = [Found]),
        (status = 422, description = "A missing or invalid parameter", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
    request: axum::extract::Request,
) -> Result<Json<Vec<Found>>, ApiError> {
    let (parts, _) = request.into_parts();
    let query = Query::parse(&parts)?;
    if page.after_id.is_some() {
        return Err(ApiError::invalid(FieldError::new(
            &["query", "after_id"],
            "search pages by offset",
            "value_error",
        )));
    }
    state.catch_up(&headers).await?;
    let hits: Vec<Hit> = sqlx::query_as(
        "SELECT tr.id, tr.route, tr.departure_time, tr.arrival_time,
                f.station AS from_station, t.station AS to_station
         FROM read_models.train_stops f
         JOIN read_models.train_stops t
           ON t.train_id = f.train_id AND t.station_key = $2 AND t.position > f.position
         JOIN read_models.trains tr ON tr.id = f.train_id
         WHERE f.station_key = $1 AND f.departure_date = $3
         ORDER BY tr.departure_time, tr.id
         LIMIT $4 OFFSET $5",
    )
    .bind(&query.from.1)
    .bind(&query.to.1)
    .bind(query.date)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(state.pool())
    .await?;
    let ids: Vec<i64> = hits.iter().map(|hit| hit.id).collect();
    let trains: Vec<Seating> = sqlx::query_as(&format!("{SEATING} WHERE id = ANY($1)"))
        .bind(&ids)
        .fetch_all(state.pool())
        .await?;
    let trains: HashMap<i64, Seating> = trains.into_iter().map(|t| (t.id, t)).collect();
    let taken = taken_seats(&state, &ids).await?;
    let mut taken_by_train: HashMap<i64, Vec<&TakenSeat>> = HashMap::new();
    for seat in &taken {
        taken_by_train.entry(seat.train_id).or_default().push(seat);
    }
    let now = Utc::now();
    let found = hits
        .into_iter()
        .filter_map(|hit| {
            let train = trains.get(&hit.id)?;
            let mine = taken_by_train.get(&hit.id).map_or(&[][..], Vec::as_slice);
            let (seats_left_by_class, lowest_price) = availability(train, mine, now);
            Some(Found {
                id: hit.id,
                route: hit.route,
                departure_time: hit.departure_time.into(),
                arrival_time: hit.arrival_time.into(),
                from: hit.from_station,
                to: hit.to_station,
                seats_left_by_class,
                lowest_price,
            })
        })
        .collect();
    Ok(Json(found))
}

/// Seats left per class at `now` and the cheapest of them, priced as a hold made now.
fn availability(
    train: &Seating,
    taken: &[&TakenSeat],
    now: chrono::DateTime<Utc>,
) -> (SeatsLeft, Option<crate::bookings::PriceView>) {
    let (layout, tariff) = (train.layout(), train.tariff());
    let occupied = occupancy(train, taken, now);
    let capacity = u32::try_from(train.capacity).unwrap_or(0);
    let left_now = capacity.saturating_sub(occupied);
    let live: std::collections::HashSet<&str> = taken
        .iter()
        .filter(|seat| seat.live(now))
        .map(|seat| seat.seat.as_str())
        .collect();
    let mut left = SeatsLeft::default();
    for (seat, class) in layout.seats() {
        if live.contains(seat.to_string().as_str()) {
            continue;
        }
        match class {
            SeatClass::First => left.first += 1,
            SeatClass::Second => left.second += 1,
        }
    }
    // Bookings made before seats existed take a place but no particular seat.
    left.first = left.first.min(left_now);
    left.second = left.second.min(left_now);
    let (demand, lead) = (
        tariff.demand_factor(occupied, capacity),
        tariff.lead_factor(now, train.departure_time),
    );
    let lowest = [
        (SeatClass::First, left.first),
        (SeatClass::Second, left.second),
    ]
    .into_iter()
    .filter(|(_, seats)| *seats > 0)
    .map(|(class, _)| tariff.price(class, demand, lead))
    .min()
    .map(|amount| crate::bookings::PriceView {
        amount,
        currency: tariff.currency.to_string(),
    });
    (left, lowest)
}
