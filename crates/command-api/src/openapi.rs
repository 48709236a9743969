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
        description = "Trains, seats, bookings, orders and payments. Commands answer once the read models show them; \
        send a command's X-Event-Position back as X-Min-Position to make a query wait for it."
    ),
    paths(
        crate::status,
        crate::trains::list,
        crate::trains::show,
        crate::trains::create,
        crate::trains::update,
        crate::trains::remove,
        crate::search::search,
        crate::seats::show,
        crate::holds::create,
        crate::holds::show,
        crate::holds::release,
        crate::orders::create,
        crate::orders::list,
        crate::orders::show,
        crate::orders::cancel,
        crate::orders::cancel_ticket,
        crate::payments::create,
        crate::payments::list,
        crate::payments::show,
        crate::payments::webhook_received,
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
        crate::trains::BasePrices,
        CoachDoc,
        DemandTierDoc,
        LeadTierDoc,
        crate::holds::NewHold,
        crate::orders::NewOrder,
        crate::orders::PassengerBody,
        crate::payments::NewPayment,
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

/// A coach of a new train: seats `<coach>-1` to `<coach>-<seat_count>`.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents domain::Coach, which the domain keeps free of utoipa"
)]
pub(crate) struct CoachDoc {
    /// 1 to 8 letters or digits, unique on the train.
    #[schema(example = "1")]
    coach: String,
    /// `first` or `second`.
    #[schema(example = "second")]
    class: String,
    #[schema(minimum = 1, maximum = 5000, example = 40)]
    seat_count: u32,
}

/// From `from_percent` of seats taken (held or booked), prices are multiplied by `factor`
/// percent; the highest tier reached applies.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents domain::DemandTier")]
pub(crate) struct DemandTierDoc {
    #[schema(minimum = 1, maximum = 100, example = 80)]
    from_percent: u32,
    #[schema(minimum = 1, maximum = 1000, example = 130)]
    factor: u32,
}

/// With less than `within_hours` left before departure, prices are multiplied by `factor`
/// percent; the tightest tier applies.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents domain::LeadTier")]
pub(crate) struct LeadTierDoc {
    #[schema(minimum = 1, maximum = 8760, example = 24)]
    within_hours: u32,
    #[schema(minimum = 1, maximum = 1000, example = 125)]
    factor: u32,
}

/// The command API's document; the gateway fetches it to serve it again under `/ts`.
pub fn api() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
