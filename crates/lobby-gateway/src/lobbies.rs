//! The lobby service's paths: lobby commands go through the lobby's stream (keyed by its
//! train, so "one lobby per train" is an expected-revision check); reads come from the
//! `read_models.lobbies` table; start-booking asks the command API over HTTP. Reads are open
//! to anyone; with `AUTH=required` opening and closing a lobby is for admins, and
//! start-booking for a signed-in caller, whose token the command API sees too.

use crate::AppState;
use auth::{Access, AdminAccess};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use commands::CommandError;
use domain::{LobbyCloseReason, LobbyCommand, LobbyError, LobbyId, TrainId, TrainState};
use http_kit::openapi::{Detail, IdempotencyKey, Invalid};
use http_kit::{ApiError, Body, Fields, POSITION_HEADER, Page, PathId, Valid};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/lobbies", get(list).post(create))
        .route("/lobbies/{lobby_id}", get(show).delete(remove))
        .route("/lobbies/ws/{lobby_id}", get(crate::ws::connect))
        .route("/start-booking", post(start_booking))
}

const NO_LOBBY: &str = "Lobby not found";
const NO_TRAIN: &str = "Train not found";

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct LobbyView {
    pub train_id: i64,
    pub id: i64,
}

#[utoipa::path(
    get, path = "/lobbies", operation_id = "list_lobbies", tag = "lobbies",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0 to 10000; default 0; not with after_id"),
        ("after_id" = Option<i64>, Query, minimum = 0, description = "the rows with an id above this one (the last id of the page before), however deep; not with offset"),
    ),
    responses(
        (status = 200, body = [LobbyView]),
        (status = 422, description = "Invalid input", body = Invalid),
        (status = 503, description = "A dependency is unavailable", body = Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    page: Page,
) -> Result<Json<Vec<LobbyView>>, ApiError> {
    let lobbies = sqlx::query_as(
        "SELECT train_id, id FROM read_models.lobbies WHERE $3::bigint IS NULL OR id > $3
         ORDER BY id LIMIT $1 OFFSET $2",
    )
    .bind(page.limit)
    .bind(page.offset)
    .bind(page.after_id)
    .fetch_all(&state.inner.pool)
    .await?;
    Ok(Json(lobbies))
}

#[utoipa::path(
    get, path = "/lobbies/{lobby_id}", operation_id = "get_lobby", tag = "lobbies",
    params(("lobby_id" = i64, Path)),
    responses(
        (status = 200, body = LobbyView),
        (status = 404, description = "Lobby not found", body = Detail),
        (status = 422, description = "Invalid input", body = Invalid),
        (status = 503, description = "A dependency is unavailable", body = Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(lobby.id = id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<LobbyView>, ApiError> {
    find(&state, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound(NO_LOBBY))
}

/// An open lobby as the read model shows it.
pub(crate) async fn find(state: &AppState, id: i64) -> Result<Option<LobbyView>, ApiError> {
    Ok(
        sqlx::query_as("SELECT train_id, id FROM read_models.lobbies WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.inner.pool)
            .await?,
    )
}

/// A new lobby.
#[derive(ToSchema)]
pub(crate) struct NewLobby {
    /// An existing train without an open lobby.
    #[schema(example = 1)]
    train_id: i64,
}

impl Body for NewLobby {
    fn read(body: &mut Fields) -> Option<Self> {
        let train_id = body.integer("train_id", true);
        Some(Self {
            train_id: train_id?,
        })
    }
}

/// Opens the train's lobby (admins only, with `AUTH=required`). A second lobby for the same
/// train is a 409 (a conflict with the state of the train's lobby, like a taken seat), naming
/// the existing lobby.
#[utoipa::path(
    post, path = "/lobbies", operation_id = "create_lobby", tag = "lobbies",
    request_body = NewLobby,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lobby id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "No valid access token (AUTH=required)", body = Detail),
        (status = 403, description = "Not an admin (AUTH=required)", body = Detail),
        (status = 404, description = "Train not found", body = Detail),
        (status = 409, description = "Lobby already exists for this train, or it is changing too fast", body = Detail),
        (status = 422, description = "Invalid input", body = Invalid),
        (status = 503, description = "A dependency is unavailable", body = Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminAccess(access): AdminAccess,
    Valid(NewLobby { train_id }): Valid<NewLobby>,
) -> Result<Response, ApiError> {
    if train_id <= 0 || !train_exists(&state, TrainId(train_id)).await? {
        return Err(ApiError::NotFound(NO_TRAIN));
    }
    let train_id = TrainId(train_id);
    let lobby_id = state.inner.ids.lobby().await?;
    let command = LobbyCommand::Open {
        lobby_id,
        train_id,
        train_exists: true,
        at: Utc::now(),
    };
    let by = access.actor();
    let position = execute(&state, train_id, command, by).await?;
    // The train may have been removed between our check and the append; its removal closes
    // only lobbies it can see. Looking again after our append closes the gap: either the
    // removal saw our lobby, or we see the removal.
    if !train_exists(&state, train_id).await? {
        close(
            &state,
            train_id,
            lobby_id,
            LobbyCloseReason::TrainRemoved,
            by,
        )
        .await?;
        return Err(ApiError::NotFound(NO_TRAIN));
    }
    Ok(state.recorded(lobby_id.0, train_id, position).await)
}

/// Closes the lobby (admins only, with `AUTH=required`); its members get `lobby_closed` and
/// their sockets close.
#[utoipa::path(
    delete, path = "/lobbies/{lobby_id}", operation_id = "delete_lobby", tag = "lobbies",
    params(("lobby_id" = i64, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lobby id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "No valid access token (AUTH=required)", body = Detail),
        (status = 403, description = "Not an admin (AUTH=required)", body = Detail),
        (status = 404, description = "Lobby not found", body = Detail),
        (status = 409, description = "The lobby is changing too fast", body = Detail),
        (status = 422, description = "Invalid input", body = Invalid),
        (status = 503, description = "A dependency is unavailable", body = Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(lobby.id = id))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    AdminAccess(access): AdminAccess,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let lobby = find(&state, id)
        .await?
        .ok_or(ApiError::NotFound(NO_LOBBY))?;
    let train_id = TrainId(lobby.train_id);
    let reason = LobbyCloseReason::Deleted;
    let position = close(&state, train_id, LobbyId(id), reason, access.actor()).await?;
    Ok(state.recorded(id, train_id, position).await)
}

async fn close(
    state: &AppState,
    train_id: TrainId,
    lobby_id: LobbyId,
    reason: LobbyCloseReason,
    actor: Option<domain::UserId>,
) -> Result<Option<event_store::Position>, ApiError> {
    let command = LobbyCommand::Close {
        lobby_id,
        reason,
        at: Utc::now(),
    };
    execute(state, train_id, command, actor).await
}

/// Runs a command on the train's lobby stream for `actor` (recorded in its events' metadata);
/// where it landed, if it recorded anything.
async fn execute(
    state: &AppState,
    train_id: TrainId,
    command: LobbyCommand,
    actor: Option<domain::UserId>,
) -> Result<Option<event_store::Position>, ApiError> {
    let origin = commands::Origin { cause: None, actor };
    let decided = state
        .inner
        .lobbies
        .execute_from(train_id, command, origin)
        .await
        .map_err(command_error)?;
    Ok(decided.position)
}

/// Whether the train is on the schedule, read from its stream (not the read model, which may
/// lag behind a train created through another instance).
async fn train_exists(state: &AppState, train_id: TrainId) -> Result<bool, ApiError> {
    let train = state
        .inner
        .trains
        .load(train_id)
        .await
        .map_err(|e| match e {
            CommandError::Unavailable(source) => ApiError::Unavailable(Box::new(source)),
            other => ApiError::internal(other),
        })?;
    Ok(matches!(train, TrainState::Active(_)))
}

fn command_error(error: CommandError<LobbyError>) -> ApiError {
    match error {
        CommandError::Rejected(LobbyError::TrainNotFound) => ApiError::NotFound(NO_TRAIN),
        CommandError::Rejected(LobbyError::LobbyNotFound) => ApiError::NotFound(NO_LOBBY),
        CommandError::Rejected(refused @ LobbyError::LobbyAlreadyExists { .. }) => {
            ApiError::Conflict(refused.to_string())
        }
        CommandError::Contention => {
            ApiError::Conflict("The lobby is changing too fast, please retry".into())
        }
        CommandError::Unavailable(source) => ApiError::Unavailable(Box::new(source)),
        CommandError::Unreadable(kind) => ApiError::Unreadable(kind),
        error @ (CommandError::Failed(_) | CommandError::Stopped) => ApiError::internal(error),
    }
}

/// The answer to start-booking, in the documented field order.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BookingStarted {
    #[schema(example = "Booking registered successfully")]
    message: &'static str,
    booking_id: i64,
}

/// Books through the command API's `POST /bookings` with the same body. Its refusals come
/// back with their status and detail unchanged; an `Idempotency-Key` and the caller's
/// `Authorization` are passed along, so the command API decides whose booking it is.
#[utoipa::path(
    post, path = "/start-booking", operation_id = "start_booking", tag = "lobbies",
    params(IdempotencyKey),
    request_body(content = inline(Object), description = "The command API's `NewBooking`: see `POST /ts/bookings`"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Booked; header X-Event-Position carries the log position", body = BookingStarted),
        (status = 400, description = "The user already has a booking for this train", body = Detail),
        (status = 402, description = "A traveller's booking of a priced train: hold seats and place an order", body = Detail),
        (status = 401, description = "No valid access token (AUTH=required)", body = Detail),
        (status = 404, description = "Train to book ticket for not found", body = Detail),
        (status = 409, description = "No seats left, too many concurrent changes, this Idempotency-Key still in progress, or its outcome not known yet (`Outcome unknown, retry later`)", body = Detail),
        (status = 422, description = "Invalid input", body = Invalid),
        (status = 503, description = "No command API instance available, or a dependency is unavailable", body = Detail),
        (status = 504, description = "The command API did not answer in time", body = Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn start_booking(
    State(state): State<AppState>,
    // Only the door's verdict matters here: the command API reads the token again.
    _: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, crate::error::GatewayError> {
    let body = http_kit::input::body_bytes(body)?;
    let mut forwarded = HeaderMap::new();
    forwarded.insert(
        header::CONTENT_TYPE,
        "application/json".parse().map_err(ApiError::internal)?,
    );
    if let Some(key) = headers.get("idempotency-key") {
        forwarded.insert("idempotency-key", key.clone());
    }
    // Passed on whether or not this door checked it: with `AUTH=off` here, the command API may
    // still want to know who books.
    if let Some(token) = headers.get(header::AUTHORIZATION) {
        forwarded.insert(header::AUTHORIZATION, token.clone());
    }
    let answer = state
        .inner
        .upstreams
        .send(Method::POST, "/bookings", &forwarded, body)
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(answer.into_response());
    }
    let booking_id: i64 = serde_json::from_slice(&answer.body)
        .map_err(|_| ApiError::internal("the command API answered a booking without its id"))?;
    let mut response = Json(BookingStarted {
        message: "Booking registered successfully",
        booking_id,
    })
    .into_response();
    if let Some(position) = answer.headers.get(POSITION_HEADER) {
        response
            .headers_mut()
            .insert(POSITION_HEADER, position.clone());
    }
    Ok(response)
}
