//! `/trains/{id}/holds` and `/holds/{id}`: seats set aside for a signed-in traveller for
//! `HOLD_TTL_SECS`, at a price fixed when they were taken. Holds are decided in the train's
//! stream, beside its bookings; reads come from the `holds` read model.
//!
//! The expiry timer (`expiry`) records the end of each hold when its time comes, so the read
//! models and lobby members see the seats free again; no rule depends on it.

pub(crate) mod expiry;

use crate::AppState;
use crate::trains::command_error;
use auth::Access;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use commands::Origin;
use domain::{
    HoldId, MAX_SEATS_PER_HOLD, Quote, SeatClass, SeatId, SeatRequest, TrainCommand, TrainEvent,
    TrainId, UserId,
};
use http_kit::{ApiError, FieldError, Fields, PathId};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/trains/{train_id}/holds", post(create))
        .route("/holds/{hold_id}", get(show).delete(release))
}

const NO_HOLD: &str = "Hold not found";
const NO_TRAIN: &str = "Train not found";

/// A hold as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct HoldView {
    #[schema(example = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    hold_id: String,
    train_id: i64,
    #[schema(example = json!(["1-3", "1-4"]))]
    seats: Vec<String>,
    /// When the seats are free again unless bought (RFC 3339, UTC).
    #[schema(value_type = String, example = "2024-09-01T12:10:00Z")]
    expires_at: DateTime<Utc>,
    price: PriceQuote,
    /// `active`, `released`, `expired` or `purchased`; only on `GET /holds/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "active")]
    status: Option<&'static str>,
}

/// What a hold costs, fixed when it was made.
#[derive(Serialize, ToSchema)]
pub(crate) struct PriceQuote {
    #[schema(example = 3000)]
    total: i64,
    #[schema(example = "EUR")]
    currency: String,
    lines: Vec<QuoteLineView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct QuoteLineView {
    #[schema(example = "1-3")]
    seat: String,
    #[schema(value_type = String, example = "second")]
    class: SeatClass,
    #[schema(example = 1500)]
    amount: i64,
}

impl From<Quote> for PriceQuote {
    fn from(quote: Quote) -> Self {
        Self {
            total: quote.total,
            currency: quote.currency.to_string(),
            lines: quote
                .lines
                .into_iter()
                .map(|line| QuoteLineView {
                    seat: line.seat.to_string(),
                    class: line.class,
                    amount: line.amount,
                })
                .collect(),
        }
    }
}

/// What to hold: named seats, or a number of seats of a class.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the body; the handler reads it field by field"
)]
pub(crate) struct NewHold {
    /// The seats, such as `["1-3", "1-4"]`: 1 to 9, each on the train and free.
    #[schema(example = json!(["1-3", "1-4"]))]
    seats: Option<Vec<String>>,
    /// Instead of `seats`: this many seats (1 to 9) of `class`, side by side where possible.
    #[schema(example = 2)]
    count: Option<i64>,
    #[schema(value_type = Option<String>, example = "second")]
    class: Option<SeatClass>,
}

impl NewHold {
    fn read(mut body: Fields) -> Result<SeatRequest, ApiError> {
        let seats = body.optional_value("seats", |raw: Vec<String>| {
            raw.iter()
                .map(|seat| SeatId::parse(seat))
                .collect::<Result<Vec<_>, _>>()
        });
        let count = body.optional_int("count", |n| {
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_SEATS_PER_HOLD).contains(n))
                .ok_or(format!("count must be between 1 and {MAX_SEATS_PER_HOLD}"))
        });
        let class = body.optional_value("class", |class: SeatClass| Ok::<_, String>(class));
        body.finish()?;
        let one_form =
            |msg: &str| ApiError::invalid(FieldError::new(&["body", "seats"], msg, "value_error"));
        match (seats.flatten(), count.flatten(), class.flatten()) {
            (Some(seats), None, None) => Ok(SeatRequest::Seats(seats)),
            (None, Some(count), Some(class)) => Ok(SeatRequest::Count { count, class }),
            (None, Some(_), None) => Err(ApiError::invalid(FieldError::new(
                &["body", "class"],
                "Field required with count",
                "missing",
            ))),
            (None, None, _) => Err(one_form("give seats, or count and class")),
            _ => Err(one_form("give either seats, or count and class, not both")),
        }
    }
}

#[utoipa::path(
    post, path = "/trains/{train_id}/holds", operation_id = "hold_seats", tag = "seats",
    security(("bearer" = [])),
    params(("train_id" = i64, Path)),
    request_body = NewHold,
    responses(
        (status = 201, description = "The seats are held until `expires_at`; header X-Event-Position carries the log position", body = HoldView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 409, description = "`Seats not available` (with `seats`, the taken ones), `Too many active holds`, `Train has departed`, or too many concurrent changes", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "An unknown seat, an empty list, more than 9 seats, or an invalid body", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn create(
    State(state): State<AppState>,
    access: Access,
    PathId(id): PathId,
    body: Fields,
) -> Result<Response, ApiError> {
    let caller = *access.caller().ok_or(ApiError::NotAuthenticated)?;
    let request = NewHold::read(body)?;
    let hold_id = HoldId::parse(&uuid::Uuid::now_v7().to_string())
        .map_err(|_| ApiError::internal("a UUID is not a valid hold id"))?;
    let (ttl, max_holds) = state.hold_limits();
    let command = TrainCommand::HoldSeats {
        hold_id: hold_id.clone(),
        owner: caller.user_id,
        request,
        ttl,
        max_holds,
        at: Utc::now(),
    };
    let train_id = TrainId(id);
    let origin = Origin {
        cause: None,
        actor: Some(caller.user_id),
    };
    let decided = state
        .trains()
        .execute_from(train_id, command, origin)
        .await
        .map_err(|e| command_error(e, NO_TRAIN))?;
    let view = decided.events.into_iter().find_map(|event| match event {
        TrainEvent::SeatsHeld {
            hold_id: held,
            seats,
            quote,
            expires_at,
            ..
        } if held == hold_id => Some(HoldView {
            hold_id: held.to_string(),
            train_id: id,
            seats: seats.iter().map(ToString::to_string).collect(),
            expires_at,
            price: quote.into(),
            status: None,
        }),
        _ => None,
    });
    let view = view.ok_or_else(|| ApiError::internal("a hold was decided without SeatsHeld"))?;
    answer(
        &state,
        &train_id.stream(),
        decided.position,
        StatusCode::CREATED,
        view,
    )
    .await
}

/// `body` with `status` once the read models show what was recorded at `position`.
async fn answer(
    state: &AppState,
    stream: &str,
    position: Option<event_store::Position>,
    status: StatusCode,
    body: impl Serialize,
) -> Result<Response, ApiError> {
    state.shown(stream, position).await;
    let response = (status, Json(body)).into_response();
    Ok(http_kit::with_position(response, position))
}

/// A hold as the read model has it.
#[derive(sqlx::FromRow)]
struct Row {
    hold_id: String,
    train_id: i64,
    owner_id: i64,
    seats: Vec<String>,
    quote: sqlx::types::Json<Quote>,
    expires_at: DateTime<Utc>,
    status: String,
}

impl Row {
    /// The status at `now`: a live hold past its time has expired, recorded or not.
    fn status(&self, now: DateTime<Utc>) -> &'static str {
        match self.status.as_str() {
            "active" if self.expires_at <= now => "expired",
            "active" => "active",
            "released" => "released",
            "purchased" => "purchased",
            _ => "expired",
        }
    }
}

/// The hold `raw` names, if `access` may see it: another traveller's answers as a missing one.
async fn hold_of(state: &AppState, raw: &str, access: &Access) -> Result<Row, ApiError> {
    let Ok(hold_id) = HoldId::parse(raw) else {
        return Err(ApiError::NotFound(NO_HOLD));
    };
    let row: Option<Row> = sqlx::query_as(
        "SELECT hold_id, train_id, owner_id, seats, quote, expires_at, status
         FROM read_models.holds WHERE hold_id = $1",
    )
    .bind(hold_id.as_str())
    .fetch_optional(state.pool())
    .await?;
    row.filter(|row| access.may_touch(Some(UserId(row.owner_id))))
        .ok_or(ApiError::NotFound(NO_HOLD))
}

#[utoipa::path(
    get, path = "/holds/{hold_id}", operation_id = "get_hold", tag = "seats",
    security(("bearer" = [])),
    params(
        ("hold_id" = String, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = HoldView),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Hold not found, or another traveller's", body = crate::openapi::Detail),
        (status = 422, description = "An invalid X-Min-Position", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn show(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Path(hold_id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    state.catch_up(&headers).await?;
    let row = hold_of(&state, &hold_id, &access).await?;
    let status = row.status(Utc::now());
    Ok(Json(HoldView {
        hold_id: row.hold_id,
        train_id: row.train_id,
        seats: row.seats,
        expires_at: row.expires_at,
        price: row.quote.0.into(),
        status: Some(status),
    }))
}

/// The answer to a release.
#[derive(Serialize, ToSchema)]
pub(crate) struct Released {
    hold_id: String,
    #[schema(example = "released")]
    status: &'static str,
}

#[utoipa::path(
    delete, path = "/holds/{hold_id}", operation_id = "release_hold", tag = "seats",
    security(("bearer" = [])),
    params(("hold_id" = String, Path)),
    responses(
        (status = 200, description = "The seats are free again; header X-Event-Position carries the log position", body = Released),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Hold not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "Hold is no longer active", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn release(
    State(state): State<AppState>,
    access: Access,
    Path(hold_id): Path<String>,
) -> Result<Response, ApiError> {
    let row = hold_of(&state, &hold_id, &access).await?;
    let hold_id = HoldId::parse(&row.hold_id).map_err(ApiError::internal)?;
    let train_id = TrainId(row.train_id);
    let command = TrainCommand::ReleaseHold {
        hold_id: hold_id.clone(),
        at: Utc::now(),
    };
    let origin = Origin {
        cause: None,
        actor: access.actor(),
    };
    let decided = state
        .trains()
        .execute_from(train_id, command, origin)
        .await
        // The train is gone: its removal released the hold.
        .map_err(|e| match command_error(e, NO_TRAIN) {
            ApiError::NotFound(_) => ApiError::Conflict("Hold is no longer active".into()),
            other => other,
        })?;
    let body = Released {
        hold_id: hold_id.to_string(),
        status: "released",
    };
    answer(
        &state,
        &train_id.stream(),
        decided.position,
        StatusCode::OK,
        body,
    )
    .await
}
