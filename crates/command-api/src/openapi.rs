//! The OpenAPI document (`/openapi.json`) and interactive docs (`/docs`).
//!
//! Bodies are read field by field (see `input.rs`) to report every invalid field at once, so
//! the request schemas here are written out for the document alone.

use crate::error::FieldError;
use axum::Json;
use utoipa::{OpenApi, ToSchema};

/// A new train.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub(crate) struct NewTrain {
    /// 1 to 100 characters.
    #[schema(example = "Chisinau-Bucuresti", min_length = 1, max_length = 100)]
    route: String,
    /// Local time, `YYYY-MM-DDTHH:MM` (seconds optional); before `arrival_time`.
    #[schema(example = "2024-09-25T06:30")]
    departure_time: String,
    #[schema(example = "2024-09-26T11:40")]
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
pub(crate) struct TrainChanges {
    #[schema(min_length = 1, max_length = 100, nullable)]
    route: Option<String>,
    #[schema(nullable)]
    departure_time: Option<String>,
    #[schema(nullable)]
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
pub(crate) struct NewBooking {
    #[schema(example = 1)]
    train_id: i64,
    /// 1 to 100 characters once trimmed; one active booking per user per train.
    #[schema(example = "Tom Ford", min_length = 1, max_length = 100)]
    user_credentials: String,
}

/// A new holder for a booking.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub(crate) struct BookingHolder {
    #[schema(example = "Jo Malone", min_length = 1, max_length = 100)]
    user_credentials: String,
}

/// A refusal: `{"detail": "No seats left"}`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub(crate) struct Detail {
    detail: String,
}

/// Invalid input: every problem found.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub(crate) struct Invalid {
    detail: Vec<FieldError>,
}

/// `{"status": "OK", "message": ...}`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a response body for the OpenAPI document only"
)]
pub(crate) struct StatusBody {
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
pub(crate) struct ApiDoc;

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub(crate) fn docs() -> utoipa_scalar::Scalar<utoipa::openapi::OpenApi> {
    use utoipa_scalar::Servable;
    utoipa_scalar::Scalar::with_url("/docs", ApiDoc::openapi())
}
