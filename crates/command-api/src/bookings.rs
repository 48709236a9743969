//! `/bookings`: seats on trains. A booking lives in its train's stream, the consistency
//! boundary for seats; reads come from the `read_models.bookings` table.

use crate::AppState;
use crate::idempotency::Attempt;
use crate::trains::on_train;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use domain::{BookingId, TrainCommand, TrainId};
use http_kit::{ApiError, Body, Fields, Page, PathId, Valid};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/bookings", get(list).post(create))
        .route(
            "/bookings/{booking_id}",
            get(show).put(update).delete(cancel),
        )
}

/// The 404 detail when the train to book on does not exist.
const NO_TRAIN: &str = "Train to book ticket for not found";

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct BookingView {
    train_id: i64,
    user_credentials: String,
    id: i64,
}

const COLUMNS: &str = "SELECT train_id, user_credentials, id FROM read_models.bookings";

#[utoipa::path(
    get, path = "/bookings", operation_id = "list_bookings", tag = "bookings",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "default 0"),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = [BookingView]),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
) -> Result<Json<Vec<BookingView>>, ApiError> {
    state.catch_up(&headers).await?;
    let bookings = sqlx::query_as(&format!("{COLUMNS} ORDER BY id LIMIT $1 OFFSET $2"))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(state.pool())
        .await?;
    Ok(Json(bookings))
}

#[utoipa::path(
    get, path = "/bookings/{booking_id}", operation_id = "get_booking", tag = "bookings",
    params(
        ("booking_id" = i64, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = BookingView),
        (status = 404, description = "Booking not found", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<BookingView>, ApiError> {
    state.catch_up(&headers).await?;
    let booking = sqlx::query_as(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(state.pool())
        .await?;
    booking
        .map(Json)
        .ok_or(ApiError::NotFound("Booking not found"))
}

/// A new booking.
#[derive(ToSchema)]
pub(crate) struct NewBooking {
    #[schema(example = 1)]
    train_id: i64,
    /// 1 to 100 characters once trimmed, no NUL character; one active booking per user per
    /// train.
    #[schema(
        example = "Tom Ford",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    user_credentials: String,
}

impl Body for NewBooking {
    fn read(body: &mut Fields) -> Option<Self> {
        let train_id = body.integer("train_id", true);
        let user_credentials = body.required_str("user_credentials", domain::user_credentials);
        Some(Self {
            train_id: train_id?,
            user_credentials: user_credentials?,
        })
    }
}

/// A new holder for a booking.
#[derive(ToSchema)]
pub(crate) struct BookingHolder {
    /// 1 to 100 characters once trimmed, no NUL character.
    #[schema(
        example = "Jo Malone",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    user_credentials: String,
}

impl Body for BookingHolder {
    fn read(body: &mut Fields) -> Option<Self> {
        let user_credentials = body.required_str("user_credentials", domain::user_credentials);
        Some(Self {
            user_credentials: user_credentials?,
        })
    }
}

#[utoipa::path(
    post, path = "/bookings", operation_id = "create_booking", tag = "bookings",
    params(crate::openapi::IdempotencyKey),
    request_body = NewBooking,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 404, description = "Train to book ticket for not found", body = crate::openapi::Detail),
        (status = 400, description = "The user already has a booking for this train", body = crate::openapi::Detail),
        (status = 409, description = "No seats left, too many concurrent changes, a request with this Idempotency-Key still in progress, or one whose outcome is not known yet (`Outcome unknown, retry later`)", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    attempt: Option<Extension<Attempt>>,
    Valid(NewBooking {
        train_id,
        user_credentials,
    }): Valid<NewBooking>,
) -> Result<Response, ApiError> {
    if train_id <= 0 {
        return Err(ApiError::NotFound(NO_TRAIN));
    }
    let train_id = TrainId(train_id);
    let attempt = attempt.map(|Extension(attempt)| attempt);
    let booking_id = match attempt.as_ref().and_then(Attempt::earlier) {
        Some(earlier) => BookingId(earlier),
        None => state.ids().booking().await?,
    };
    let command = TrainCommand::BookSeat {
        booking_id,
        user_credentials,
        at: Utc::now(),
    };
    on_train(
        &state,
        train_id,
        command,
        NO_TRAIN,
        booking_id.0,
        attempt.as_ref(),
    )
    .await
}

#[utoipa::path(
    put, path = "/bookings/{booking_id}", operation_id = "update_booking", tag = "bookings",
    params(
        ("booking_id" = i64, Path),
    ),
    request_body = BookingHolder,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 404, description = "Booking not found", body = crate::openapi::Detail),
        (status = 400, description = "The user already has a booking for this train", body = crate::openapi::Detail),
        (status = 409, description = "No seats left, or too many concurrent changes", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn update(
    State(state): State<AppState>,
    PathId(id): PathId,
    Valid(BookingHolder { user_credentials }): Valid<BookingHolder>,
) -> Result<Response, ApiError> {
    let train_id = train_of(&state, id).await?;
    let command = TrainCommand::ChangeBookingHolder {
        booking_id: BookingId(id),
        user_credentials,
        at: Utc::now(),
    };
    on_train(&state, train_id, command, "Booking not found", id, None).await
}

#[utoipa::path(
    delete, path = "/bookings/{booking_id}", operation_id = "cancel_booking", tag = "bookings",
    params(
        ("booking_id" = i64, Path),
    ),
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 404, description = "Booking not found", body = crate::openapi::Detail),
        (status = 409, description = "No seats left, or too many concurrent changes", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let train_id = train_of(&state, id).await?;
    let command = TrainCommand::CancelBooking {
        booking_id: BookingId(id),
        at: Utc::now(),
    };
    on_train(&state, train_id, command, "Booking not found", id, None).await
}

/// The train whose stream holds an active booking. The read model is current for anything
/// this service acknowledged, because commands wait for it.
async fn train_of(state: &AppState, booking_id: i64) -> Result<TrainId, ApiError> {
    let train: Option<i64> =
        sqlx::query_scalar("SELECT train_id FROM read_models.bookings WHERE id = $1")
            .bind(booking_id)
            .fetch_optional(state.pool())
            .await?;
    train
        .map(TrainId)
        .ok_or(ApiError::NotFound("Booking not found"))
}
