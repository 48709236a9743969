//! `GET /trains/{id}/seats`: a train's seat map, each seat with its state and what a hold
//! made now would cost it. Read from the `trains` and `seats_taken` read models and priced
//! with the domain's own tariff, so the map and a hold agree on a price.
//!
//! A hold past its time shows its seats free even before the expiry timer records it: the
//! rules decide expiry from each command's time, and the map does the same with the clock.

use crate::AppState;
use auth::{Caller, Visitor};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::{Layout, SeatClass, Tariff};
use http_kit::{ApiError, PathId};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/trains/{train_id}/seats", get(show))
}

/// A train's seat map.
#[derive(Serialize, ToSchema)]
pub(crate) struct SeatMap {
    train_id: i64,
    #[schema(example = "EUR")]
    currency: String,
    coaches: Vec<CoachView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CoachView {
    #[schema(example = "1")]
    coach: String,
    #[schema(value_type = String, example = "second")]
    class: SeatClass,
    seats: Vec<SeatView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SeatView {
    #[schema(example = "1-3")]
    seat: String,
    /// `free`, `held` or `booked`; for a signed-in caller, their own are `held_by_you` and
    /// `yours`.
    #[schema(example = "free")]
    state: &'static str,
    /// What a hold of this seat made now would cost, in minor units.
    #[schema(example = 1500)]
    price: i64,
}

/// A train as the seat map and search read it.
#[derive(sqlx::FromRow)]
pub(crate) struct Seating {
    pub(crate) id: i64,
    pub(crate) capacity: i32,
    pub(crate) available_seats: i32,
    pub(crate) departure_time: NaiveDateTime,
    layout: Option<sqlx::types::Json<Layout>>,
    tariff: Option<sqlx::types::Json<Tariff>>,
}

impl Seating {
    /// The coaches; a train registered before seats existed has one second-class coach.
    pub(crate) fn layout(&self) -> Layout {
        match &self.layout {
            Some(layout) => layout.0.clone(),
            None => Layout::single(u32::try_from(self.capacity).unwrap_or(0)),
        }
    }

    /// The tariff; a train registered before prices existed is free.
    pub(crate) fn tariff(&self) -> Tariff {
        self.tariff
            .as_ref()
            .map_or_else(Tariff::free, |tariff| tariff.0.clone())
    }
}

pub(crate) const SEATING: &str =
    "SELECT id, capacity, available_seats, departure_time, layout, tariff FROM read_models.trains";

/// A seat a booking or a hold takes, as the read model has it.
#[derive(sqlx::FromRow)]
pub(crate) struct TakenSeat {
    pub(crate) train_id: i64,
    pub(crate) seat: String,
    booking_id: Option<i64>,
    owner_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
}

impl TakenSeat {
    /// Still taken at `now`: booked, or held by a hold whose time is not up.
    pub(crate) fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| end > now)
    }
}

/// The seats taken on `trains`, expired holds included (the caller tells them apart).
pub(crate) async fn taken_seats(
    state: &AppState,
    trains: &[i64],
) -> Result<Vec<TakenSeat>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT train_id, seat, booking_id, owner_id, expires_at
         FROM read_models.seats_taken WHERE train_id = ANY($1)",
    )
    .bind(trains)
    .fetch_all(state.pool())
    .await?)
}

/// How full a train is at `now`, as a hold made now would be priced: seats booked or held,
/// not counting holds whose time is up. `taken` holds this train's rows.
pub(crate) fn occupancy(train: &Seating, taken: &[&TakenSeat], now: DateTime<Utc>) -> u32 {
    let recorded = train.capacity.saturating_sub(train.available_seats);
    let lapsed = taken.iter().filter(|seat| !seat.live(now)).count();
    u32::try_from(recorded)
        .unwrap_or(0)
        .saturating_sub(u32::try_from(lapsed).unwrap_or(u32::MAX))
}

#[utoipa::path(
    get, path = "/trains/{train_id}/seats", operation_id = "seat_map", tag = "seats",
    params(
        ("train_id" = i64, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = SeatMap),
        (status = 401, description = "A token was sent and is not valid", body = crate::openapi::Detail),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<SeatMap>, ApiError> {
    state.catch_up(&headers).await?;
    let train: Seating = sqlx::query_as(&format!("{SEATING} WHERE id = $1"))
        .bind(id)
        .fetch_optional(state.pool())
        .await?
        .ok_or(ApiError::NotFound("Train not found"))?;
    let taken = taken_seats(&state, &[id]).await?;
    Ok(Json(seat_map(&train, &taken, visitor.as_ref(), Utc::now())))
}

/// The map of `train` at `now` for `visitor`, whose own seats are told apart.
fn seat_map(
    train: &Seating,
    taken: &[TakenSeat],
    visitor: Option<&Caller>,
    now: DateTime<Utc>,
) -> SeatMap {
    let (layout, tariff) = (train.layout(), train.tariff());
    let all: Vec<&TakenSeat> = taken.iter().collect();
    let demand = tariff.demand_factor(
        occupancy(train, &all, now),
        u32::try_from(train.capacity).unwrap_or(0),
    );
    let lead = tariff.lead_factor(now, train.departure_time);
    let live: HashMap<&str, &TakenSeat> = taken
        .iter()
        .filter(|seat| seat.live(now))
        .map(|seat| (seat.seat.as_str(), seat))
        .collect();
    let mine =
        |seat: &TakenSeat| visitor.is_some_and(|caller| seat.owner_id == Some(caller.user_id.0));
    let coaches = layout
        .coaches()
        .iter()
        .map(|coach| {
            let price = tariff.price(coach.class, demand, lead);
            let seats = (1..=coach.seat_count)
                .map(|number| {
                    let seat = format!("{}-{number}", coach.coach);
                    let state = match live.get(seat.as_str()) {
                        None => "free",
                        Some(taken) => match (taken.booking_id.is_some(), mine(taken)) {
                            (true, true) => "yours",
                            (true, false) => "booked",
                            (false, true) => "held_by_you",
                            (false, false) => "held",
                        },
                    };
                    SeatView { seat, state, price }
                })
                .collect();
            CoachView {
                coach: coach.coach.clone(),
                class: coach.class,
                seats,
            }
        })
        .collect();
    SeatMap {
        train_id: train.id,
        currency: tariff.currency.to_string(),
        coaches,
    }
}
