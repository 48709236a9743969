//! The command API's OpenAPI document (`/openapi.json`) and interactive docs (`/docs`). Each
//! request body documents itself where it is defined; the shared error bodies come from the
//! HTTP kit.

use http_kit::FieldError;
use http_kit::openapi::BearerScheme;
pub(crate) use http_kit::openapi::{Detail, IdempotencyKey, Invalid};
use http_kit::routes::StatusBody;
use utoipa::OpenApi;

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
        crate::users::register,
        crate::users::login,
        crate::users::refresh,
        crate::users::logout,
        crate::users::profile,
        crate::users::erase,
        crate::users::all_users,
        crate::users::change_role,
        crate::users::change_password,
        crate::users::jwks,
    ),
    components(schemas(
        crate::trains::NewTrain,
        crate::trains::TrainChanges,
        crate::bookings::NewBooking,
        crate::bookings::BookingHolder,
        crate::users::bodies::Registration,
        crate::users::bodies::Credentials,
        crate::users::bodies::RefreshToken,
        crate::users::bodies::NewRole,
        crate::users::bodies::NewPassword,
        crate::users::UserView,
        crate::users::Tokens,
        crate::users::Message,
        crate::users::Registered,
        Detail,
        Invalid,
        FieldError,
        StatusBody
    )),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// The command API's document; the gateway fetches it to serve it again under `/ts`.
pub fn api() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
