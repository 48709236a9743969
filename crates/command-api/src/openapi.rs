//! The OpenAPI document (`/openapi.json`) and interactive docs (`/docs`).
//!
//! Bodies are read field by field (see `input.rs`) to report every invalid field at once, so
//! the request schemas here are written out for the document alone.

use crate::error::FieldError;
use axum::Json;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// A new train.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub struct NewTrain {
    /// 1 to 100 characters once trimmed; no NUL character (PostgreSQL cannot store one).
    #[schema(
        example = "Chisinau-Bucuresti",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    route: String,
    /// Local time, `YYYY-MM-DDTHH:MM` (seconds optional); before `arrival_time`.
    #[schema(
        example = "2024-09-25T06:30",
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"
    )]
    departure_time: String,
    #[schema(
        example = "2024-09-26T11:40",
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"
    )]
    arrival_time: String,
    #[schema(minimum = 0, maximum = 5000, example = 100)]
    available_seats: i64,
}

/// A partial update of a train: absent or `null` fields stay as they are. `available_seats`
/// sets the seats still free; the capacity moves with it.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub struct TrainChanges {
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\u0000]*$", nullable)]
    route: Option<String>,
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        nullable
    )]
    departure_time: Option<String>,
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        nullable
    )]
    arrival_time: Option<String>,
    #[schema(minimum = 0, maximum = 5000, nullable)]
    available_seats: Option<i64>,
}

/// A new booking.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub struct NewBooking {
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

/// A new holder for a booking.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub struct BookingHolder {
    /// 1 to 100 characters once trimmed, no NUL character.
    #[schema(
        example = "Jo Malone",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    user_credentials: String,
}

/// `Idempotency-Key` on a POST: a retry with the same key and body gets the first answer
/// back; the same key with another body is a 422, a retry while the first runs a 409.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "describes a request header for the OpenAPI document only"
)]
pub struct IdempotencyKey {
    /// 1 to 255 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = r"^[!-~]{1,255}$"
    )]
    idempotency_key: Option<String>,
}

/// A refusal: `{"detail": "No seats left"}`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub struct Detail {
    detail: String,
}

/// Invalid input: every problem found.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub struct Invalid {
    detail: Vec<FieldError>,
}

/// `{"status": "OK", "message": ...}`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub struct StatusBody {
    status: String,
    message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Train booking command API",
        description = "Trains and bookings. Commands answer once the read models show them; \
        send a command's X-Event-Position back as X-Min-Position to make a query wait for it."
    ),
    paths(
        crate::status,
        crate::trains::list,
        crate::trains::show,
        crate::trains::create,
        crate::trains::update,
        crate::trains::remove,
        crate::bookings::list,
        crate::bookings::show,
        crate::bookings::create,
        crate::bookings::update,
        crate::bookings::cancel,
    ),
    components(schemas(
        NewTrain,
        TrainChanges,
        NewBooking,
        BookingHolder,
        Detail,
        Invalid,
        FieldError,
        StatusBody
    ))
)]
struct ApiDoc;

/// The command API's document; the gateway serves it again under `/ts`.
pub fn api() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(api())
}

pub(crate) fn docs() -> utoipa_scalar::Scalar<utoipa::openapi::OpenApi> {
    use utoipa_scalar::Servable;
    utoipa_scalar::Scalar::with_url("/docs", api())
}
