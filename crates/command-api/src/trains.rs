//! `/trains`: the schedule. Commands go through the train's stream; reads come from the
//! `read_models.trains` table.

use crate::AppState;
use crate::error::{ApiError, FieldError};
use crate::executor::CommandError;
use crate::input::{Fields, Page, PathId};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDateTime, Utc};
use domain::{
    LobbyCloseReason, LobbyCommand, LobbyState, Route, SeatCount, TrainCommand, TrainDetails,
    TrainError, TrainId, TrainUpdate, TravelTime,
};
use serde::Serialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/trains", get(list).post(create))
        .route("/trains/{train_id}", get(show).put(update).delete(remove))
}

/// A train as the API shows it; field order follows the documented contract.
#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct TrainView {
    route: String,
    #[serde(serialize_with = "travel_time")]
    #[schema(value_type = String, example = "2024-09-25T06:30")]
    departure_time: NaiveDateTime,
    #[serde(serialize_with = "travel_time")]
    #[schema(value_type = String, example = "2024-09-26T11:40")]
    arrival_time: NaiveDateTime,
    available_seats: i32,
    id: i64,
}

fn travel_time<S: serde::Serializer>(
    time: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&TravelTime::from(*time))
}

const COLUMNS: &str =
    "SELECT route, departure_time, arrival_time, available_seats, id FROM read_models.trains";

#[utoipa::path(
    get, path = "/trains", operation_id = "list_trains", tag = "trains",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "default 0"),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = [TrainView]),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
) -> Result<Json<Vec<TrainView>>, ApiError> {
    state.catch_up(&headers).await?;
    let trains = sqlx::query_as(&format!("{COLUMNS} ORDER BY id LIMIT $1 OFFSET $2"))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(state.pool())
        .await?;
    Ok(Json(trains))
}

#[utoipa::path(
    get, path = "/trains/{train_id}", operation_id = "get_train", tag = "trains",
    params(
        ("train_id" = i64, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = TrainView),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<TrainView>, ApiError> {
    state.catch_up(&headers).await?;
    let train = sqlx::query_as(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(state.pool())
        .await?;
    train.map(Json).ok_or(ApiError::NotFound("Train not found"))
}

/// The validated fields of a create or update body; each is `None` when absent or invalid.
struct TrainFields {
    route: Option<Route>,
    departure_time: Option<TravelTime>,
    arrival_time: Option<TravelTime>,
    available_seats: Option<SeatCount>,
}

fn read_fields(mut body: Fields, required: bool) -> Result<TrainFields, ApiError> {
    let route = body.string("route", required).map(|r| Route::parse(&r));
    let route = body.check("route", route);
    let departure = body
        .string("departure_time", required)
        .map(|t| TravelTime::parse(&t));
    let departure_time = body.check("departure_time", departure);
    let arrival = body
        .string("arrival_time", required)
        .map(|t| TravelTime::parse(&t));
    let arrival_time = body.check("arrival_time", arrival);
    let seats = body
        .integer("available_seats", required)
        .map(SeatCount::new);
    let available_seats = body.check("available_seats", seats);
    body.finish()?;
    Ok(TrainFields {
        route,
        departure_time,
        arrival_time,
        available_seats,
    })
}

#[utoipa::path(
    post, path = "/trains", operation_id = "create_train", tag = "trains",
    params(crate::openapi::IdempotencyKey),
    request_body = crate::openapi::NewTrain,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 409, description = "A request with this Idempotency-Key is still in progress", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Fields,
) -> Result<Response, ApiError> {
    let fields = read_fields(body, true)?;
    let (Some(route), Some(departure_time), Some(arrival_time), Some(seats)) = (
        fields.route,
        fields.departure_time,
        fields.arrival_time,
        fields.available_seats,
    ) else {
        return Err(ApiError::internal("a validated train body lacks a field"));
    };
    // Checked here too, so a refused train does not use up an id.
    if departure_time >= arrival_time {
        return Err(refusal(
            TrainError::DepartureNotBeforeArrival,
            "Train not found",
        ));
    }
    let train_id = state.ids().train().await?;
    let details = TrainDetails {
        route,
        departure_time,
        arrival_time,
    };
    let command = TrainCommand::Register {
        train_id,
        details,
        seats,
        at: Utc::now(),
    };
    on_train(&state, train_id, command, "Train not found", train_id.0).await
}

#[utoipa::path(
    put, path = "/trains/{train_id}", operation_id = "update_train", tag = "trains",
    params(
        ("train_id" = i64, Path),
    ),
    request_body = crate::openapi::TrainChanges,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn update(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Fields,
) -> Result<Response, ApiError> {
    let fields = read_fields(body, false)?;
    let update = TrainUpdate {
        route: fields.route,
        departure_time: fields.departure_time,
        arrival_time: fields.arrival_time,
        available_seats: fields.available_seats,
    };
    let train_id = TrainId(id);
    let command = TrainCommand::Update {
        update,
        at: Utc::now(),
    };
    on_train(&state, train_id, command, "Train not found", id).await
}

/// Removes the train: its active bookings are cancelled in the same append, and its lobby, if
/// one is open, is closed right after.
#[utoipa::path(
    delete, path = "/trains/{train_id}", operation_id = "delete_train", tag = "trains",
    params(
        ("train_id" = i64, Path),
    ),
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let train_id = TrainId(id);
    let command = TrainCommand::Remove { at: Utc::now() };
    let decided = state
        .trains()
        .execute(train_id.stream(), command)
        .await
        .map_err(|e| command_error(e, "Train not found"))?;
    close_lobby(&state, train_id).await;
    state
        .recorded(id, &train_id.stream(), decided.position)
        .await
}

/// Best effort: the lobbies read model already drops the lobby of a removed train, so a
/// failure here leaves the read side right and is only logged.
async fn close_lobby(state: &AppState, train_id: TrainId) {
    let stream = train_id.lobby_stream();
    let closed = async {
        let (lobby, _) = state.lobbies().load(&stream).await?;
        let LobbyState::Open { lobby_id, .. } = lobby else {
            return Ok(None);
        };
        let command = LobbyCommand::Close {
            lobby_id,
            reason: LobbyCloseReason::TrainRemoved,
            at: Utc::now(),
        };
        state
            .lobbies()
            .execute(stream.clone(), command)
            .await
            .map(|decided| decided.position)
    };
    match closed.await {
        Ok(Some(position)) => {
            state
                .freshness()
                .wait(&stream, position, state.read_timeout())
                .await;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, train.id = %train_id, "could not close the removed train's lobby")
        }
    }
}

/// Runs a command on a train's stream and answers with `id` once the read models show it.
pub(crate) async fn on_train(
    state: &AppState,
    train_id: TrainId,
    command: TrainCommand,
    missing_train: &'static str,
    id: i64,
) -> Result<Response, ApiError> {
    let stream = train_id.stream();
    let decided = state
        .trains()
        .execute(stream.clone(), command)
        .await
        .map_err(|e| command_error(e, missing_train))?;
    state.recorded(id, &stream, decided.position).await
}

/// Maps a train command's failure to the API's statuses. `missing_train` is the 404 detail.
pub(crate) fn command_error(
    error: CommandError<TrainError>,
    missing_train: &'static str,
) -> ApiError {
    match error {
        CommandError::Rejected(refused) => refusal(refused, missing_train),
        CommandError::Contention => {
            ApiError::Conflict("The train is changing too fast, please retry".into())
        }
        CommandError::Unavailable(source) => ApiError::Unavailable(Box::new(source)),
        error @ (CommandError::Failed(_) | CommandError::Stopped) => ApiError::internal(error),
    }
}

fn refusal(refused: TrainError, missing_train: &'static str) -> ApiError {
    let field = |name: &str| {
        ApiError::invalid(FieldError::new(
            &["body", name],
            refused.to_string(),
            "value_error",
        ))
    };
    match refused {
        TrainError::TrainNotFound => ApiError::NotFound(missing_train),
        TrainError::BookingNotFound => ApiError::NotFound("Booking not found"),
        TrainError::DuplicateBooking => ApiError::BadRequest(refused.to_string()),
        TrainError::NoSeatsLeft | TrainError::TrainAlreadyExists => {
            ApiError::Conflict(refused.to_string())
        }
        TrainError::DepartureNotBeforeArrival => field("arrival_time"),
        TrainError::InvalidUserCredentials { .. } => field("user_credentials"),
        TrainError::CapacityExceeded => field("available_seats"),
        TrainError::BookingIdTaken => ApiError::internal(refused.to_string()),
    }
}
