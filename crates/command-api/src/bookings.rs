//! `/bookings`: seats on trains. A booking lives in its train's stream, the consistency
//! boundary for seats; reads come from the `read_models.bookings` table.
//!
//! With `AUTH=required` a booking belongs to the signed-in traveller who made it: a traveller
//! sees and changes only their own (another's answers 404, as if it did not exist), an admin
//! every one. Its traveller's name is sealed under the owner's key (see `travellers`).

pub(crate) mod travellers;

use crate::AppState;
use crate::idempotency::Attempt;
use crate::trains::on_train;
use auth::{Access, Caller};
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use domain::{BookingId, TrainCommand, TrainId, Traveller, UserId};
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
const NO_BOOKING: &str = "Booking not found";

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BookingView {
    train_id: i64,
    /// The traveller's name; `Erased traveller` once its account is erased.
    user_credentials: String,
    id: i64,
    /// The seat, such as `2-14`; `null` for a booking made before seats existed.
    #[schema(example = "1-3")]
    seat: Option<String>,
    /// What the booking cost; `null` for a booking made before prices existed.
    price: Option<PriceView>,
}

/// An amount of money: whole minor units (cents) of `currency`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PriceView {
    #[schema(example = 1500)]
    pub(crate) amount: i64,
    #[schema(example = "EUR")]
    pub(crate) currency: String,
}

/// A row of the read model: the traveller's name is sealed when the booking has an owner.
#[derive(sqlx::FromRow)]
struct Row {
    train_id: i64,
    user_credentials: String,
    id: i64,
    owner_id: Option<i64>,
    seat: Option<String>,
    price_amount: Option<i64>,
    price_currency: Option<String>,
}

const COLUMNS: &str =
    "SELECT train_id, user_credentials, id, owner_id, seat, price_amount, price_currency
                       FROM read_models.bookings";

/// `rows` as the API shows them, their travellers' names opened.
async fn views(state: &AppState, rows: Vec<Row>) -> Result<Vec<BookingView>, ApiError> {
    let names = travellers::shown(
        state,
        rows.iter()
            .map(|row| (row.owner_id, row.user_credentials.clone()))
            .collect(),
    )
    .await?;
    Ok(rows
        .into_iter()
        .zip(names)
        .map(|(row, user_credentials)| BookingView {
            train_id: row.train_id,
            user_credentials,
            id: row.id,
            seat: row.seat,
            price: row
                .price_amount
                .zip(row.price_currency)
                .map(|(amount, currency)| PriceView { amount, currency }),
        })
        .collect())
}

#[utoipa::path(
    get, path = "/bookings", operation_id = "list_bookings", tag = "bookings",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0 to 10000; default 0; not with after_id"),
        ("after_id" = Option<i64>, Query, minimum = 0, description = "the rows with an id above this one (the last id of the page before), however deep; not with offset"),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, description = "Every booking for an admin (or with AUTH=off); a traveller's own for a traveller", body = [BookingView]),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    page: Page,
) -> Result<Json<Vec<BookingView>>, ApiError> {
    state.catch_up(&headers).await?;
    let rows = sqlx::query_as(&format!(
        "{COLUMNS} WHERE ($3::bigint IS NULL OR owner_id = $3) AND ($4::bigint IS NULL OR id > $4)
         ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .bind(access.only_own().map(|user| user.0))
    .bind(page.after_id)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(views(&state, rows).await?))
}

#[utoipa::path(
    get, path = "/bookings/{booking_id}", operation_id = "get_booking", tag = "bookings",
    security(("bearer" = [])),
    params(
        ("booking_id" = i64, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = BookingView),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Booking not found, or another traveller's", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    PathId(id): PathId,
) -> Result<Json<BookingView>, ApiError> {
    state.catch_up(&headers).await?;
    let row: Option<Row> = sqlx::query_as(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(state.pool())
        .await?;
    let row = row
        .filter(|row| access.may_touch(row.owner_id.map(UserId)))
        .ok_or(ApiError::NotFound(NO_BOOKING))?;
    let view = views(&state, vec![row]).await?.pop();
    view.map(Json).ok_or(ApiError::NotFound(NO_BOOKING))
}

/// A new booking.
#[derive(ToSchema)]
pub(crate) struct NewBooking {
    #[schema(example = 1)]
    train_id: i64,
    /// The traveller's name: 1 to 100 characters once trimmed, no NUL character; one active
    /// booking per traveller per train. Required with AUTH=off; with AUTH=required it
    /// defaults to the account's username.
    #[schema(
        example = "Tom Ford",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    user_credentials: Option<String>,
}

impl NewBooking {
    /// Reads the body; `user_credentials` is required when no account can stand in for it.
    fn read(mut body: Fields, name_required: bool) -> Result<Self, ApiError> {
        let train_id = body.integer("train_id", true);
        let name = if name_required {
            body.required_str("user_credentials", domain::user_credentials)
                .map(Some)
        } else {
            body.optional_str("user_credentials", domain::user_credentials)
        };
        body.finish()?;
        match (train_id, name) {
            (Some(train_id), Some(user_credentials)) => Ok(Self {
                train_id,
                user_credentials,
            }),
            // `finish` fails whenever a field was refused.
            _ => Err(ApiError::internal("a body was refused without a reason")),
        }
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
    security(("bearer" = [])),
    params(crate::openapi::IdempotencyKey),
    request_body = NewBooking,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position. With AUTH=required the booking belongs to the token's subject", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Train to book ticket for not found", body = crate::openapi::Detail),
        (status = 400, description = "The traveller already has a booking for this train", body = crate::openapi::Detail),
        (status = 402, description = "A traveller's booking of a priced train: hold seats and place an order", body = crate::openapi::Detail),
        (status = 409, description = "No seats left, too many concurrent changes, a request with this Idempotency-Key still in progress, or one whose outcome is not known yet (`Outcome unknown, retry later`)", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    access: Access,
    attempt: Option<Extension<Attempt>>,
    body: Fields,
) -> Result<Response, ApiError> {
    let NewBooking {
        train_id,
        user_credentials,
    } = NewBooking::read(body, access.caller().is_none())?;
    if train_id <= 0 {
        return Err(ApiError::NotFound(NO_TRAIN));
    }
    let traveller = match (access.caller(), user_credentials) {
        (Some(caller), name) => travellers::sealed(&state, caller.user_id, name)
            .await?
            // The account was erased after its token was issued.
            .ok_or(ApiError::NotAuthenticated)?,
        (None, Some(name)) => Traveller::Named(name),
        (None, None) => return Err(ApiError::internal("a booking without a traveller")),
    };
    let train_id = TrainId(train_id);
    let attempt = attempt.map(|Extension(attempt)| attempt);
    let booking_id = match attempt.as_ref().and_then(Attempt::earlier) {
        Some(earlier) => BookingId(earlier),
        None => state.ids().booking().await?,
    };
    let command = TrainCommand::BookSeat {
        booking_id,
        user_credentials: traveller,
        // An admin books as an operator; so does everyone with AUTH=off, as before prices.
        operator: access.caller().is_none_or(Caller::is_admin),
        at: Utc::now(),
    };
    on_train(
        &state,
        train_id,
        command,
        NO_TRAIN,
        booking_id.0,
        attempt.as_ref(),
        access.actor(),
    )
    .await
}

#[utoipa::path(
    put, path = "/bookings/{booking_id}", operation_id = "update_booking", tag = "bookings",
    security(("bearer" = [])),
    params(
        ("booking_id" = i64, Path),
    ),
    request_body = BookingHolder,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Booking not found, or another traveller's", body = crate::openapi::Detail),
        (status = 400, description = "The traveller already has a booking for this train", body = crate::openapi::Detail),
        (status = 409, description = "No seats left, or too many concurrent changes", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn update(
    State(state): State<AppState>,
    access: Access,
    PathId(id): PathId,
    Valid(BookingHolder { user_credentials }): Valid<BookingHolder>,
) -> Result<Response, ApiError> {
    let (train_id, owner, _) = booking_of(&state, id, &access).await?;
    let traveller = match owner {
        // The name stays sealed under the booking's owner's key, whoever renames it.
        Some(owner) => travellers::sealed(&state, owner, Some(user_credentials))
            .await?
            .ok_or(ApiError::NotFound(NO_BOOKING))?,
        None => Traveller::Named(user_credentials),
    };
    let command = TrainCommand::ChangeBookingHolder {
        booking_id: BookingId(id),
        user_credentials: traveller,
        at: Utc::now(),
    };
    on_train(
        &state,
        train_id,
        command,
        NO_BOOKING,
        id,
        None,
        access.actor(),
    )
    .await
}

#[utoipa::path(
    delete, path = "/bookings/{booking_id}", operation_id = "cancel_booking", tag = "bookings",
    security(("bearer" = [])),
    params(
        ("booking_id" = i64, Path),
    ),
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Booking not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "An order's ticket whose train has departed, or too many concurrent changes", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(booking.id = id))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    access: Access,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (train_id, _, order) = booking_of(&state, id, &access).await?;
    // An order's ticket is cancelled through its order, which refunds it by the policy.
    if let Some(order_id) = order {
        let position =
            crate::orders::cancel_ticket_of(&state, &access, order_id.clone(), BookingId(id))
                .await?;
        return state.recorded(id, &order_id.stream(), position).await;
    }
    let command = TrainCommand::CancelBooking {
        booking_id: BookingId(id),
        at: Utc::now(),
    };
    on_train(
        &state,
        train_id,
        command,
        NO_BOOKING,
        id,
        None,
        access.actor(),
    )
    .await
}

/// The train whose stream holds an active booking, the booking's owner, and the order it is a
/// ticket of; 404 for a booking this caller may not touch, as for one that does not exist.
/// The read model is current for anything this service acknowledged, because commands wait
/// for it.
async fn booking_of(
    state: &AppState,
    booking_id: i64,
    access: &Access,
) -> Result<(TrainId, Option<UserId>, Option<domain::OrderId>), ApiError> {
    let booking: Option<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT train_id, owner_id, order_id FROM read_models.bookings WHERE id = $1",
    )
    .bind(booking_id)
    .fetch_optional(state.pool())
    .await?;
    booking
        .map(|(train, owner, order)| {
            let order = order.and_then(|order| domain::OrderId::parse(&order).ok());
            (TrainId(train), owner.map(UserId), order)
        })
        .filter(|(_, owner, _)| access.may_touch(*owner))
        .ok_or(ApiError::NotFound(NO_BOOKING))
}

/// An erased account's active bookings, for its erasure to name.
pub(crate) async fn owned_by(
    state: &AppState,
    owner: UserId,
) -> Result<Vec<domain::OwnedBooking>, ApiError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT train_id, id FROM read_models.bookings WHERE owner_id = $1 ORDER BY id",
    )
    .bind(owner.0)
    .fetch_all(state.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(train, booking)| domain::OwnedBooking {
            train_id: TrainId(train),
            booking_id: BookingId(booking),
        })
        .collect())
}
