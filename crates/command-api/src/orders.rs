//! `/orders`: tickets for the seats of one or several holds, paid for at once.
//!
//! Placing an order records `OrderPlaced` in the order's stream; the order process (the
//! reactors `order_steps_on_trains` and `train_answers_to_orders`, the payment dispatcher and
//! the order timer) does everything after that, step by step over durable events. The answer
//! to a placement waits until each hold's train has decided whether it keeps the hold for the
//! order, so a 201 means every hold is kept until `pay_by`.

pub(crate) mod dispatch;
pub(crate) mod timer;

use crate::AppState;
use crate::bookings::travellers;
use auth::Access;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use commands::{CommandError, Origin};
use domain::{
    BookingId, Currency, DomainEvent, HoldId, Order, OrderCommand, OrderError, OrderEvent, OrderId,
    OrderState, Phase, Quote, SeatClass, SeatId, Ticket, TicketStatus, TrainEvent, TrainId,
    TrainState, Traveller,
};
use event_store::EventStore;
use http_kit::{ApiError, FieldError, Fields, Page};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", post(create).get(list))
        .route("/orders/{order_id}", get(show))
        .route("/orders/{order_id}/cancel", post(cancel))
        .route(
            "/orders/{order_id}/tickets/{ticket_id}/cancel",
            post(cancel_ticket),
        )
}

pub(crate) const NO_ORDER: &str = "Order not found";
const NO_HOLD: &str = "Hold not found";
const HOLD_GONE: &str = "Hold is no longer active";
/// Most holds one order takes.
pub(crate) const MAX_HOLDS_PER_ORDER: usize = 10;

/// An order as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderView {
    #[schema(example = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    order_id: String,
    /// `awaiting_payment`, `paid`, `confirmed`, `expired`, `cancelled`, `refunded` or
    /// `partially_refunded`.
    #[schema(example = "awaiting_payment")]
    status: &'static str,
    tickets: Vec<TicketView>,
    /// The sum of the tickets' amounts, in minor units.
    #[schema(example = 3000)]
    total: i64,
    #[schema(example = "EUR")]
    currency: String,
    /// Pay before this (RFC 3339, UTC), or the holds are let go.
    #[schema(value_type = String, example = "2024-09-01T12:15:00Z")]
    pay_by: DateTime<Utc>,
}

/// One ticket of an order: a booking once issued.
#[derive(Serialize, ToSchema)]
pub(crate) struct TicketView {
    /// The booking id the ticket has (or will have) in `GET /bookings`.
    #[schema(example = 42)]
    ticket_id: i64,
    train_id: i64,
    #[schema(example = "1-3")]
    seat: String,
    #[schema(value_type = String, example = "second")]
    class: SeatClass,
    #[schema(example = 1500)]
    amount: i64,
    #[schema(example = "Tom Ford")]
    passenger: String,
    /// `pending` (until paid), `issued`, `cancelled`, `refunded` or `expired`.
    #[schema(example = "pending")]
    status: &'static str,
    /// What was decided to come back for it, in minor units.
    #[schema(example = 0)]
    refunded_amount: i64,
}

/// An order placed.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the body; the handler reads it field by field"
)]
pub(crate) struct NewOrder {
    /// The caller's active holds, 1 to 10, on one or several trains.
    #[schema(example = json!(["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]))]
    holds: Vec<String>,
    /// Who travels on which seat; a seat without one travels under the account's username.
    passengers: Option<Vec<PassengerBody>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PassengerBody {
    #[schema(example = "1-3")]
    seat: String,
    #[schema(example = "Tom Ford", min_length = 1, max_length = 100)]
    name: String,
}

struct Placement {
    holds: Vec<HoldId>,
    passengers: HashMap<SeatId, String>,
}

impl Placement {
    fn read(mut body: Fields) -> Result<Self, ApiError> {
        let holds = body.optional_value("holds", |raw: Vec<String>| {
            if raw.is_empty() {
                return Err("holds must name at least one hold".to_owned());
            }
            if raw.len() > MAX_HOLDS_PER_ORDER {
                return Err(format!(
                    "an order takes at most {MAX_HOLDS_PER_ORDER} holds"
                ));
            }
            let mut seen = BTreeSet::new();
            raw.iter()
                .map(|id| {
                    let id = HoldId::parse(id).map_err(|e| e.to_string())?;
                    if seen.insert(id.clone()) {
                        Ok(id)
                    } else {
                        Err(format!("hold {id} is listed twice"))
                    }
                })
                .collect()
        });
        let passengers = body.optional_value("passengers", |raw: Vec<PassengerBody>| {
            let mut passengers = HashMap::new();
            for passenger in raw {
                let seat = SeatId::parse(&passenger.seat).map_err(|e| e.to_string())?;
                let name = domain::user_credentials(&passenger.name).map_err(|e| e.to_string())?;
                if passengers.insert(seat.clone(), name).is_some() {
                    return Err(format!("seat {seat} has two passengers"));
                }
            }
            Ok(passengers)
        });
        let missing = matches!(holds, Some(None));
        body.finish()?;
        if missing {
            return Err(ApiError::invalid(FieldError::new(
                &["body", "holds"],
                "Field required",
                "missing",
            )));
        }
        Ok(Self {
            holds: holds.flatten().unwrap_or_default(),
            passengers: passengers.flatten().unwrap_or_default(),
        })
    }
}

/// A hold as the read model has it.
#[derive(sqlx::FromRow)]
struct HoldRow {
    hold_id: String,
    train_id: i64,
    owner_id: i64,
    quote: sqlx::types::Json<Quote>,
    expires_at: DateTime<Utc>,
    status: String,
    order_id: Option<String>,
}

#[utoipa::path(
    post, path = "/orders", operation_id = "place_order", tag = "orders",
    security(("bearer" = [])),
    params(crate::openapi::IdempotencyKey),
    request_body = NewOrder,
    responses(
        (status = 201, description = "Placed: every hold is kept until `pay_by`; header X-Event-Position carries the log position", body = OrderView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Hold not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "`Hold is no longer active` (with `hold_id`), or too many concurrent changes", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "No holds, holds priced in several currencies, a passenger for a seat not held, or an invalid body", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    access: Access,
    body: Fields,
) -> Result<Response, ApiError> {
    let caller = *access.caller().ok_or(ApiError::NotAuthenticated)?;
    let placement = Placement::read(body)?;
    let ids: Vec<&str> = placement.holds.iter().map(HoldId::as_str).collect();
    let rows: Vec<HoldRow> = sqlx::query_as(
        "SELECT hold_id, train_id, owner_id, quote, expires_at, status, order_id
         FROM read_models.holds WHERE hold_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(state.pool())
    .await?;
    // Microseconds, as the read models keep times: `pay_by` reads back as written.
    let now = Utc::now().trunc_subsecs(6);
    let mut holds = Vec::new();
    for hold_id in &placement.holds {
        let row = rows
            .iter()
            .find(|row| row.hold_id == hold_id.as_str())
            .filter(|row| row.owner_id == caller.user_id.0)
            .ok_or(ApiError::NotFound(NO_HOLD))?;
        let gone = row.status != "active" || row.expires_at <= now || row.order_id.is_some();
        if gone {
            return Err(hold_gone(hold_id));
        }
        // The read model may lag behind the train: its own state decides.
        let Some(checked) = free_to_order(&state, TrainId(row.train_id), hold_id, now).await?
        else {
            return Err(hold_gone(hold_id));
        };
        holds.push((hold_id.clone(), row, checked));
    }
    let held: BTreeSet<&SeatId> = holds
        .iter()
        .flat_map(|(_, row, _)| row.quote.lines.iter().map(|line| &line.seat))
        .collect();
    if let Some(seat) = placement.passengers.keys().find(|s| !held.contains(s)) {
        return Err(ApiError::invalid(FieldError::new(
            &["body", "passengers"],
            format!("seat {seat} is not in these holds"),
            "value_error",
        )));
    }
    let departures = departures(&state, &holds).await?;
    // The account's own name, sealed once, for every seat without a passenger.
    let account = travellers::sealed(&state, caller.user_id, None)
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let mut tickets = Vec::new();
    let mut currencies: Vec<Currency> = Vec::new();
    for (hold_id, row, _) in &holds {
        currencies.push(row.quote.currency.clone());
        let departure = *departures
            .get(&row.train_id)
            .ok_or_else(|| hold_gone(hold_id))?;
        for line in &row.quote.lines {
            let passenger = match placement.passengers.get(&line.seat) {
                Some(name) => travellers::sealed(&state, caller.user_id, Some(name.clone()))
                    .await?
                    .ok_or(ApiError::NotAuthenticated)?,
                None => account.clone(),
            };
            tickets.push(Ticket {
                ticket_id: state.ids().booking().await?,
                train_id: TrainId(row.train_id),
                hold_id: hold_id.clone(),
                seat: line.seat.clone(),
                class: line.class,
                amount: line.amount,
                passenger,
                departure: departure.into(),
            });
        }
    }
    let order_id = OrderId::parse(&uuid::Uuid::now_v7().to_string()).map_err(ApiError::internal)?;
    let command = OrderCommand::Place {
        order_id: order_id.clone(),
        owner: caller.user_id,
        tickets,
        currencies,
        pay_by: now + state.payment_window(),
        at: now,
    };
    let origin = Origin {
        cause: None,
        actor: Some(caller.user_id),
    };
    let decided = state
        .orders()
        .execute_from(order_id.clone(), command, origin)
        .await
        .map_err(order_error)?;
    let stream = order_id.stream();
    if let Some(position) = decided.position {
        let kept = state
            .freshness()
            .wait_reactions(&stream, "OrderPlaced", position, state.placement_timeout())
            .await;
        if !kept {
            return Err(ApiError::Timeout);
        }
    }
    // Each train has decided by now: a hold it could not keep ends the order (its other
    // holds are let go by the order process). What it kept shows in the read models before
    // the answer, as any write does.
    let mut last = decided.position;
    for (hold_id, row, checked) in &holds {
        let train_id = TrainId(row.train_id);
        let Some(at) = kept_for(&state, train_id, hold_id, &order_id, *checked).await? else {
            return Err(hold_gone(hold_id));
        };
        state.shown(&train_id.stream(), Some(at)).await;
        last = last.max(Some(at));
    }
    let order = placed(&decided.events).ok_or_else(|| ApiError::internal("no OrderPlaced"))?;
    state.shown(&stream, decided.position).await;
    let view = view(&state, &order).await?;
    let response = (StatusCode::CREATED, Json(view)).into_response();
    Ok(http_kit::with_position(response, last))
}

/// 409 naming the hold that stood in the way.
fn hold_gone(hold_id: &HoldId) -> ApiError {
    let mut fields = serde_json::Map::new();
    fields.insert("hold_id".into(), hold_id.as_str().into());
    ApiError::ConflictWith {
        detail: HOLD_GONE,
        fields,
    }
}

/// When each train of `holds` leaves, as the schedule reads now.
async fn departures(
    state: &AppState,
    holds: &[(HoldId, &HoldRow, u64)],
) -> Result<HashMap<i64, NaiveDateTime>, ApiError> {
    let trains: Vec<i64> = holds.iter().map(|(_, row, _)| row.train_id).collect();
    let rows: Vec<(i64, NaiveDateTime)> =
        sqlx::query_as("SELECT id, departure_time FROM read_models.trains WHERE id = ANY($1)")
            .bind(&trains)
            .fetch_all(state.pool())
            .await?;
    Ok(rows.into_iter().collect())
}

/// Whether `train_id` holds `hold_id` live at `now`, for no order yet: if so, the revision of
/// the train's stream it was seen at.
async fn free_to_order(
    state: &AppState,
    train_id: TrainId,
    hold_id: &HoldId,
    now: DateTime<Utc>,
) -> Result<Option<u64>, ApiError> {
    let current = state
        .trains()
        .current(train_id)
        .await
        .map_err(crate::command_failure)?;
    let free = match &current.state {
        TrainState::Active(train) => train
            .holds
            .get(hold_id)
            .is_some_and(|hold| hold.order.is_none() && !hold.expired_at(now)),
        _ => false,
    };
    Ok(current.revision.filter(|_| free))
}

/// Where `train_id` recorded that it keeps `hold_id` for `order_id`, read from its stream
/// after `checked`, the revision the hold was seen free at; `None` if its last word on the
/// placement was a refusal (or it has none).
async fn kept_for(
    state: &AppState,
    train_id: TrainId,
    hold_id: &HoldId,
    order_id: &OrderId,
    checked: u64,
) -> Result<Option<event_store::Position>, ApiError> {
    let events = state
        .store()
        .read_stream_after(&train_id.stream(), checked)
        .await?;
    let types = ["HoldExtended", "HoldExtensionRefused"];
    for event in events.iter().rev() {
        if !types.contains(&event.event_type.as_str()) {
            continue;
        }
        let decoded = domain::decode(&event.event_type, &event.metadata, event.data.clone())
            .map_err(|e| ApiError::Unreadable(e.kind()))?;
        match decoded {
            DomainEvent::Train(TrainEvent::HoldExtended {
                hold_id: kept,
                order_id: by,
                ..
            }) if &kept == hold_id && &by == order_id => return Ok(Some(event.position)),
            DomainEvent::Train(TrainEvent::HoldExtensionRefused {
                hold_id: refused,
                order_id: by,
                ..
            }) if &refused == hold_id && &by == order_id => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// The order `events` placed, as its state.
fn placed(events: &[OrderEvent]) -> Option<Order> {
    match <domain::Orders as domain::Decider>::fold(events) {
        OrderState::Placed(order) => Some(order),
        OrderState::NotPlaced => None,
    }
}

/// Maps an order command's failure to the API's statuses.
pub(crate) fn order_error(error: CommandError<OrderError>) -> ApiError {
    let field = |name: &str, refused: &OrderError| {
        ApiError::invalid(FieldError::new(
            &["body", name],
            refused.to_string(),
            "value_error",
        ))
    };
    match error {
        CommandError::Rejected(refused) => match refused {
            OrderError::OrderNotFound => ApiError::NotFound(NO_ORDER),
            OrderError::TicketNotFound => ApiError::NotFound("Ticket not found"),
            OrderError::PaymentNotFound => ApiError::NotFound("Payment not found"),
            OrderError::RefundNotFound => ApiError::NotFound("Refund not found"),
            OrderError::EmptyOrder | OrderError::MixedCurrencies => field("holds", &refused),
            OrderError::AmountMismatch => ApiError::BadRequest(refused.to_string()),
            OrderError::NotAwaitingPayment
            | OrderError::PaymentInProgress
            | OrderError::TrainDeparted
            | OrderError::BeingConfirmed
            | OrderError::NothingToCancel => ApiError::Conflict(refused.to_string()),
            OrderError::OrderIdTaken => ApiError::internal(refused),
        },
        other => crate::command_failure(other),
    }
}

/// The order `raw` names, as the read model has it, if `access` may see it: another
/// traveller's answers as a missing one.
pub(crate) async fn order_of(
    state: &AppState,
    raw: &str,
    access: &Access,
) -> Result<Order, ApiError> {
    let order_id = OrderId::parse(raw).map_err(|_| ApiError::NotFound(NO_ORDER))?;
    let row: Option<(sqlx::types::Json<Order>,)> =
        sqlx::query_as("SELECT state FROM read_models.orders WHERE order_id = $1")
            .bind(order_id.as_str())
            .fetch_optional(state.pool())
            .await?;
    row.map(|(order,)| order.0)
        .filter(|order| access.may_touch(Some(order.owner)))
        .ok_or(ApiError::NotFound(NO_ORDER))
}

/// How `orders` show, their passengers' names opened for the answer.
async fn views(state: &AppState, orders: &[Order]) -> Result<Vec<OrderView>, ApiError> {
    let rows = orders
        .iter()
        .flat_map(|order| &order.tickets)
        .map(|ticket| match &ticket.ticket.passenger {
            Traveller::Owned { owner, name, .. } => (Some(owner.0), name.0.clone()),
            Traveller::Named(name) => (None, name.clone()),
        })
        .collect();
    let mut names = travellers::shown(state, rows).await?.into_iter();
    Ok(orders
        .iter()
        .map(|order| OrderView {
            order_id: order.order_id.to_string(),
            status: order.status().as_str(),
            tickets: order
                .tickets
                .iter()
                .map(|ticket| TicketView {
                    ticket_id: ticket.ticket.ticket_id.0,
                    train_id: ticket.ticket.train_id.0,
                    seat: ticket.ticket.seat.to_string(),
                    class: ticket.ticket.class,
                    amount: ticket.ticket.amount,
                    passenger: names.next().unwrap_or_default(),
                    status: ticket_status(order, ticket),
                    refunded_amount: ticket.refund,
                })
                .collect(),
            total: order.total.amount,
            currency: order.total.currency.to_string(),
            pay_by: order.pay_by,
        })
        .collect())
}

async fn view(state: &AppState, order: &Order) -> Result<OrderView, ApiError> {
    views(state, std::slice::from_ref(order))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("an order without a view"))
}

fn ticket_status(order: &Order, ticket: &domain::OrderTicket) -> &'static str {
    match (ticket.status, order.phase) {
        (TicketStatus::Pending, Phase::Expired) => "expired",
        (TicketStatus::Pending, Phase::Cancelled) => "cancelled",
        (TicketStatus::Pending, _) => "pending",
        (TicketStatus::Issued, _) => "issued",
        (TicketStatus::Cancelled, _) if ticket.refund > 0 => "refunded",
        (TicketStatus::Cancelled, _) => "cancelled",
    }
}

#[utoipa::path(
    get, path = "/orders", operation_id = "list_orders", tag = "orders",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, description = "The caller's orders, newest first; every order for an admin", body = [OrderView]),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
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
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let caller = access.caller().ok_or(ApiError::NotAuthenticated)?;
    state.catch_up(&headers).await?;
    let only: Option<i64> = (!caller.is_admin()).then_some(caller.user_id.0);
    let rows: Vec<(sqlx::types::Json<Order>,)> = sqlx::query_as(
        "SELECT state FROM read_models.orders WHERE ($3::bigint IS NULL OR owner_id = $3)
         ORDER BY placed_at DESC, order_id LIMIT $1 OFFSET $2",
    )
    .bind(page.limit)
    .bind(page.offset)
    .bind(only)
    .fetch_all(state.pool())
    .await?;
    let orders: Vec<Order> = rows.into_iter().map(|(order,)| order.0).collect();
    Ok(Json(views(&state, &orders).await?))
}

#[utoipa::path(
    get, path = "/orders/{order_id}", operation_id = "get_order", tag = "orders",
    security(("bearer" = [])),
    params(
        ("order_id" = String, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = OrderView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Order not found, or another traveller's", body = crate::openapi::Detail),
        (status = 422, description = "An invalid X-Min-Position", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn show(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    access.caller().ok_or(ApiError::NotAuthenticated)?;
    state.catch_up(&headers).await?;
    let order = order_of(&state, &order_id, &access).await?;
    Ok(Json(view(&state, &order).await?))
}

#[utoipa::path(
    post, path = "/orders/{order_id}/cancel", operation_id = "cancel_order", tag = "orders",
    security(("bearer" = [])),
    params(("order_id" = String, Path), crate::openapi::IdempotencyKey),
    responses(
        (status = 200, description = "Unpaid: its holds are let go. Confirmed: its tickets are cancelled and refunded by the policy. Header X-Event-Position carries the log position", body = OrderView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Order not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "`Train has departed`, `Order is being confirmed`, or `Order has nothing left to cancel`", body = crate::openapi::Detail),
        (status = 422, description = "An invalid Idempotency-Key", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    access: Access,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    access.caller().ok_or(ApiError::NotAuthenticated)?;
    let order = order_of(&state, &order_id, &access).await?;
    let command = OrderCommand::Cancel {
        policy: state.refund_policy(),
        at: Utc::now(),
    };
    let position = decide(&state, &access, order.order_id.clone(), command).await?;
    show_after(&state, &access, &order.order_id, position).await
}

#[utoipa::path(
    post, path = "/orders/{order_id}/tickets/{ticket_id}/cancel", operation_id = "cancel_ticket", tag = "orders",
    security(("bearer" = [])),
    params(("order_id" = String, Path), ("ticket_id" = i64, Path), crate::openapi::IdempotencyKey),
    responses(
        (status = 200, description = "The ticket is cancelled and refunded by the policy; header X-Event-Position carries the log position", body = OrderView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Order or ticket not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "`Train has departed`, `Order is being confirmed`, or `Order has nothing left to cancel`", body = crate::openapi::Detail),
        (status = 422, description = "A ticket id that is not an integer, or an invalid Idempotency-Key", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn cancel_ticket(
    State(state): State<AppState>,
    access: Access,
    Path((order_id, ticket_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    access.caller().ok_or(ApiError::NotAuthenticated)?;
    let ticket_id: i64 = ticket_id.parse().map_err(|_| {
        ApiError::invalid(FieldError::new(
            &["path", "ticket_id"],
            "Input should be a valid integer",
            "int_parsing",
        ))
    })?;
    let order = order_of(&state, &order_id, &access).await?;
    cancel_one(&state, &access, order.order_id, BookingId(ticket_id)).await
}

/// Cancels one ticket of an order the caller may touch, and answers with the order.
async fn cancel_one(
    state: &AppState,
    access: &Access,
    order_id: OrderId,
    ticket_id: BookingId,
) -> Result<Response, ApiError> {
    let position = cancel_ticket_of(state, access, order_id.clone(), ticket_id).await?;
    show_after(state, access, &order_id, position).await
}

/// Cancels one ticket of an order, refunded by the policy, as its owner or an operator:
/// what `DELETE /bookings/{id}` does for a ticket. Where it was recorded, if anything was.
pub(crate) async fn cancel_ticket_of(
    state: &AppState,
    access: &Access,
    order_id: OrderId,
    ticket_id: BookingId,
) -> Result<Option<event_store::Position>, ApiError> {
    let command = OrderCommand::CancelTicket {
        ticket_id,
        policy: state.refund_policy(),
        at: Utc::now(),
    };
    decide(state, access, order_id, command).await
}

/// Decides `command` on the order; where it was recorded, if anything was.
async fn decide(
    state: &AppState,
    access: &Access,
    order_id: OrderId,
    command: OrderCommand,
) -> Result<Option<event_store::Position>, ApiError> {
    let origin = Origin {
        cause: None,
        actor: access.actor(),
    };
    let decided = state
        .orders()
        .execute_from(order_id, command, origin)
        .await
        .map_err(order_error)?;
    Ok(decided.position)
}

/// The order, once the read models show what was recorded at `position`.
async fn show_after(
    state: &AppState,
    access: &Access,
    order_id: &OrderId,
    position: Option<event_store::Position>,
) -> Result<Response, ApiError> {
    state.shown(&order_id.stream(), position).await;
    let order = order_of(state, order_id.as_str(), access).await?;
    let response = Json(view(state, &order).await?).into_response();
    Ok(http_kit::with_position(response, position))
}
