//! `/trains`: the schedule. Commands go through the train's stream; reads come from the
//! `read_models.trains` table.

use crate::AppState;
use crate::idempotency::Attempt;
use auth::AdminAccess;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDateTime, Utc};
use commands::{CommandError, Origin};
use domain::{
    Currency, DemandTier, Layout, LeadTier, Route, SeatCount, Tariff, TrainCommand, TrainDetails,
    TrainError, TrainId, TrainUpdate, TravelTime, UserId,
};
use http_kit::{ApiError, Body, FieldError, Fields, Page, PathId, Valid};
use serde::Serialize;
use utoipa::ToSchema;

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
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0 to 10000; default 0; not with after_id"),
        ("after_id" = Option<i64>, Query, minimum = 0, description = "the rows with an id above this one (the last id of the page before), however deep; not with offset"),
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
    let trains = sqlx::query_as(&format!(
        "{COLUMNS} WHERE $3::bigint IS NULL OR id > $3 ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .bind(page.after_id)
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

/// A new train.
#[derive(ToSchema)]
pub(crate) struct NewTrain {
    /// 1 to 100 characters once trimmed; no NUL character (PostgreSQL cannot store one).
    #[schema(
        value_type = String,
        example = "Chisinau-Bucuresti",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$"
    )]
    route: Route,
    /// Local time, `YYYY-MM-DDTHH:MM` (seconds optional), in the years 2000 to 2099; before
    /// `arrival_time`.
    #[schema(
        value_type = String,
        example = "2024-09-25T06:30",
        pattern = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"
    )]
    departure_time: TravelTime,
    #[schema(
        value_type = String,
        example = "2024-09-26T11:40",
        pattern = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"
    )]
    arrival_time: TravelTime,
    #[schema(value_type = i64, minimum = 0, maximum = 5000, example = 100)]
    available_seats: SeatCount,
    /// The stations in order, 2 to 50; absent, the route's parts between dashes.
    #[schema(value_type = Option<Vec<String>>, example = json!(["Chisinau", "Iasi", "Bucuresti"]))]
    stops: Option<Vec<String>>,
    /// The coaches, which must hold exactly `available_seats` seats; absent, one second-class
    /// coach `"1"`. Seats are named `<coach>-<n>`.
    #[schema(value_type = Option<Vec<crate::openapi::CoachDoc>>)]
    coaches: Option<Layout>,
    /// Base prices in minor units; absent, `DEFAULT_PRICES`.
    #[schema(value_type = Option<BasePrices>)]
    prices: Option<BasePrices>,
    /// ISO 4217 code; default `EUR`.
    #[schema(value_type = Option<String>, example = "EUR")]
    currency: Option<Currency>,
    /// Demand tiers replacing the defaults (see README).
    #[schema(value_type = Option<Vec<crate::openapi::DemandTierDoc>>)]
    demand_tiers: Option<Vec<DemandTier>>,
    /// Lead-time tiers replacing the defaults (see README).
    #[schema(value_type = Option<Vec<crate::openapi::LeadTierDoc>>)]
    lead_tiers: Option<Vec<LeadTier>>,
}

impl Body for NewTrain {
    fn read(body: &mut Fields) -> Option<Self> {
        let route = body.required_str("route", Route::parse);
        let departure_time = body.required_str("departure_time", TravelTime::parse);
        let arrival_time = body.required_str("arrival_time", TravelTime::parse);
        let available_seats = body.required_int("available_seats", SeatCount::new);
        let stops = body.optional_value("stops", domain::stops);
        let coaches = body.optional_value("coaches", Layout::new);
        let prices = body.optional_value("prices", BasePrices::check);
        let currency = body.optional_value("currency", |raw: String| Currency::parse(&raw));
        let demand_tiers = body.optional_value("demand_tiers", tiers::demand);
        let lead_tiers = body.optional_value("lead_tiers", tiers::lead);
        Some(Self {
            route: route?,
            departure_time: departure_time?,
            arrival_time: arrival_time?,
            available_seats: available_seats?,
            stops: stops?,
            coaches: coaches?,
            prices: prices?,
            currency: currency?,
            demand_tiers: demand_tiers?,
            lead_tiers: lead_tiers?,
        })
    }
}

/// Base prices of the two classes, in minor units of the train's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasePrices {
    #[schema(minimum = 0, maximum = 100_000_000, example = 2500)]
    pub first: i64,
    #[schema(minimum = 0, maximum = 100_000_000, example = 1500)]
    pub second: i64,
}

impl BasePrices {
    /// Most a base price may be, in minor units: a million in a currency of cents.
    pub const MAX: i64 = 100_000_000;

    fn check(self) -> Result<Self, String> {
        if [self.first, self.second]
            .iter()
            .all(|price| (0..=Self::MAX).contains(price))
        {
            Ok(self)
        } else {
            Err(format!("prices must be between 0 and {}", Self::MAX))
        }
    }
}

impl std::str::FromStr for BasePrices {
    type Err = String;

    /// `first=2500,second=1500`, as `DEFAULT_PRICES` is written.
    fn from_str(raw: &str) -> Result<Self, String> {
        let mut prices = (None, None);
        for part in raw.split(',') {
            let (class, amount) = part
                .split_once('=')
                .ok_or("write prices as first=<amount>,second=<amount>")?;
            let amount: i64 = amount
                .trim()
                .parse()
                .map_err(|_| format!("{amount:?} is not a whole amount"))?;
            match class.trim() {
                "first" => prices.0 = Some(amount),
                "second" => prices.1 = Some(amount),
                other => return Err(format!("unknown class {other:?}")),
            }
        }
        match prices {
            (Some(first), Some(second)) => Self { first, second }.check(),
            _ => Err("give both classes: first=<amount>,second=<amount>".into()),
        }
    }
}

/// Checks of the tiers a train may bring instead of the defaults.
mod tiers {
    use domain::{DemandTier, LeadTier};

    const MAX_TIERS: usize = 10;
    const MAX_FACTOR: u32 = 1_000;

    pub(super) fn demand(tiers: Vec<DemandTier>) -> Result<Vec<DemandTier>, String> {
        let valid = tiers.len() <= MAX_TIERS
            && tiers.iter().all(|t| {
                (1..=100).contains(&t.from_percent) && (1..=MAX_FACTOR).contains(&t.factor)
            });
        valid.then_some(tiers).ok_or_else(|| {
            format!("at most {MAX_TIERS} tiers, from_percent 1 to 100, factor 1 to {MAX_FACTOR}")
        })
    }

    pub(super) fn lead(tiers: Vec<LeadTier>) -> Result<Vec<LeadTier>, String> {
        let valid = tiers.len() <= MAX_TIERS
            && tiers.iter().all(|t| {
                (1..=8_760).contains(&t.within_hours) && (1..=MAX_FACTOR).contains(&t.factor)
            });
        valid.then_some(tiers).ok_or_else(|| {
            format!("at most {MAX_TIERS} tiers, within_hours 1 to 8760, factor 1 to {MAX_FACTOR}")
        })
    }
}

/// A partial update of a train: absent or `null` fields stay as they are. `available_seats`
/// sets the seats still free; the capacity moves with it.
#[derive(ToSchema)]
pub(crate) struct TrainChanges {
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*$",
        nullable
    )]
    route: Option<Route>,
    #[schema(
        value_type = Option<String>,
        pattern = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        nullable
    )]
    departure_time: Option<TravelTime>,
    #[schema(
        value_type = Option<String>,
        pattern = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        nullable
    )]
    arrival_time: Option<TravelTime>,
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 5000, nullable)]
    available_seats: Option<SeatCount>,
}

impl Body for TrainChanges {
    fn read(body: &mut Fields) -> Option<Self> {
        let route = body.optional_str("route", Route::parse);
        let departure_time = body.optional_str("departure_time", TravelTime::parse);
        let arrival_time = body.optional_str("arrival_time", TravelTime::parse);
        let available_seats = body.optional_int("available_seats", SeatCount::new);
        Some(Self {
            route: route?,
            departure_time: departure_time?,
            arrival_time: arrival_time?,
            available_seats: available_seats?,
        })
    }
}

#[utoipa::path(
    post, path = "/trains", operation_id = "create_train", tag = "trains",
    security(("bearer" = [])),
    params(crate::openapi::IdempotencyKey),
    request_body = NewTrain,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed: admins only (AUTH=required)", body = crate::openapi::Detail),
        (status = 409, description = "A request with this Idempotency-Key is still in progress, or its outcome is not known yet (`Outcome unknown, retry later`)", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminAccess(access): AdminAccess,
    attempt: Option<Extension<Attempt>>,
    Valid(NewTrain {
        route,
        departure_time,
        arrival_time,
        available_seats,
        stops,
        coaches,
        prices,
        currency,
        demand_tiers,
        lead_tiers,
    }): Valid<NewTrain>,
) -> Result<Response, ApiError> {
    // Checked here too, so a refused train does not use up an id.
    if departure_time >= arrival_time {
        return Err(refusal(
            TrainError::DepartureNotBeforeArrival,
            "Train not found",
        ));
    }
    if coaches
        .as_ref()
        .is_some_and(|layout| layout.capacity() != available_seats.get())
    {
        return Err(refusal(TrainError::LayoutMismatch, "Train not found"));
    }
    let prices = prices.unwrap_or(state.default_prices());
    let mut tariff = Tariff::new(
        currency.unwrap_or_else(Currency::eur),
        prices.first,
        prices.second,
    );
    if let Some(demand) = demand_tiers {
        tariff.demand = demand;
    }
    if let Some(lead) = lead_tiers {
        tariff.lead = lead;
    }
    let attempt = attempt.map(|Extension(attempt)| attempt);
    let train_id = match attempt.as_ref().and_then(Attempt::earlier) {
        Some(earlier) => TrainId(earlier),
        None => state.ids().train().await?,
    };
    let details = TrainDetails {
        route,
        departure_time,
        arrival_time,
    };
    let command = TrainCommand::Register {
        train_id,
        details,
        seats: available_seats,
        stops: stops.unwrap_or_default(),
        layout: coaches,
        tariff,
        at: Utc::now(),
    };
    on_train(
        &state,
        train_id,
        command,
        "Train not found",
        train_id.0,
        attempt.as_ref(),
        access.actor(),
    )
    .await
}

#[utoipa::path(
    put, path = "/trains/{train_id}", operation_id = "update_train", tag = "trains",
    security(("bearer" = [])),
    params(
        ("train_id" = i64, Path),
    ),
    request_body = TrainChanges,
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed: admins only (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 409, description = "Fewer seats would take away held or booked ones (`seats` names them), or too many concurrent changes", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn update(
    State(state): State<AppState>,
    AdminAccess(access): AdminAccess,
    PathId(id): PathId,
    Valid(changes): Valid<TrainChanges>,
) -> Result<Response, ApiError> {
    let update = TrainUpdate {
        route: changes.route,
        departure_time: changes.departure_time,
        arrival_time: changes.arrival_time,
        available_seats: changes.available_seats,
    };
    let train_id = TrainId(id);
    let command = TrainCommand::Update {
        update,
        at: Utc::now(),
    };
    let missing = "Train not found";
    on_train(&state, train_id, command, missing, id, None, access.actor()).await
}

/// Removes the train: its active bookings are cancelled in the same append, and its lobby, if
/// one is open, is closed by a reaction. The answer comes once that closing is recorded and
/// the read models show both.
#[utoipa::path(
    delete, path = "/trains/{train_id}", operation_id = "delete_train", tag = "trains",
    security(("bearer" = [])),
    params(
        ("train_id" = i64, Path),
    ),
    responses(
        (status = 200, description = "The id; header X-Event-Position carries the log position", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated (AUTH=required)", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed: admins only (AUTH=required)", body = crate::openapi::Detail),
        (status = 404, description = "Train not found", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(train.id = id))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    AdminAccess(access): AdminAccess,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let train_id = TrainId(id);
    let command = TrainCommand::Remove { at: Utc::now() };
    let origin = Origin {
        cause: None,
        actor: access.actor(),
    };
    let decided = state
        .trains()
        .execute_from(train_id, command, origin)
        .await
        .map_err(|e| command_error(e, "Train not found"))?;
    if let Some(removed) = decided.position {
        lobby_closed(&state, train_id, removed).await?;
    }
    state
        .recorded(id, &train_id.stream(), decided.position)
        .await
}

/// Waits (bounded) until the reactions to the removal at `removed` are recorded, and until
/// the read models show the lobby's closing, if there was a lobby to close.
async fn lobby_closed(
    state: &AppState,
    train_id: TrainId,
    removed: event_store::Position,
) -> Result<(), ApiError> {
    let timeout = state.read_timeout();
    let stream = train_id.stream();
    state
        .freshness()
        .wait_reactions(&stream, "TrainRemoved", removed, timeout)
        .await;
    let lobby_stream = train_id.lobby_stream();
    let lobby = event_store::EventStore::read_stream(state.store(), &lobby_stream).await?;
    if let Some(last) = lobby.last().filter(|e| e.position > removed) {
        state
            .freshness()
            .wait(&lobby_stream, last.position, timeout)
            .await;
    }
    Ok(())
}

/// Runs a command on a train's stream for `actor` (the signed-in caller, if any) and answers
/// with `id` once the read models show it. The command of a keyed request runs as its
/// `attempt`, noted there before it is handed over, so that a lost answer can be found again.
pub(crate) async fn on_train(
    state: &AppState,
    train_id: TrainId,
    command: TrainCommand,
    missing_train: &'static str,
    id: i64,
    attempt: Option<&Attempt>,
    actor: Option<UserId>,
) -> Result<Response, ApiError> {
    let stream = train_id.stream();
    if let Some(attempt) = attempt {
        attempt.hand_over(&stream, id);
    }
    let origin = Origin {
        cause: attempt.map(Attempt::cause),
        actor,
    };
    let decided = state
        .trains()
        .execute_from(train_id, command, origin)
        .await
        .map_err(|e| command_error(e, missing_train))?;
    let mut position = decided.position;
    if let (None, Some(attempt)) = (position, attempt) {
        // The stream already held this request's cause: an earlier run of it landed (one
        // whose answer was lost), and this one decided nothing. Answer as that one would.
        let events = event_store::EventStore::read_stream(state.store(), &stream).await?;
        position = attempt.cause().last_recorded(&events).map(|e| e.position);
    }
    state.recorded(id, &stream, position).await
}

/// 409 naming the seats that stood in the way.
fn seats_refused(detail: &'static str, seats: &[domain::SeatId]) -> ApiError {
    let mut fields = serde_json::Map::new();
    let seats: Vec<String> = seats.iter().map(ToString::to_string).collect();
    fields.insert("seats".into(), serde_json::json!(seats));
    ApiError::ConflictWith { detail, fields }
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
        other => crate::command_failure(other),
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
        // A booking keeps its owner: to a caller who tried otherwise, it is not there.
        TrainError::BookingNotFound | TrainError::OwnerChange => {
            ApiError::NotFound("Booking not found")
        }
        TrainError::DuplicateBooking => ApiError::BadRequest(refused.to_string()),
        TrainError::NoSeatsLeft
        | TrainError::TrainAlreadyExists
        | TrainError::TrainDeparted
        | TrainError::TooManyHolds
        | TrainError::HoldNotActive
        | TrainError::HoldInOrder => ApiError::Conflict(refused.to_string()),
        TrainError::SeatsNotAvailable(seats) => seats_refused("Seats not available", &seats),
        TrainError::SeatsInUse(seats) => seats_refused("Seats in use cannot be removed", &seats),
        TrainError::PaymentRequired => {
            ApiError::PaymentRequired("Payment required: hold seats and place an order")
        }
        TrainError::DepartureNotBeforeArrival => field("arrival_time"),
        TrainError::TravelTimeOutOfRange { field: name } => field(name),
        TrainError::InvalidUserCredentials { .. } => field("user_credentials"),
        TrainError::CapacityExceeded => field("available_seats"),
        TrainError::LayoutMismatch => field("coaches"),
        TrainError::UnknownSeat(_)
        | TrainError::SeatListedTwice(_)
        | TrainError::EmptyHold
        | TrainError::TooManySeats { .. } => field("seats"),
        TrainError::BookingIdTaken | TrainError::HoldIdTaken => {
            ApiError::internal(refused.to_string())
        }
    }
}
