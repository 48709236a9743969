//! `/payments`: paying for an order, what became of a payment, and the provider's webhook.
//!
//! Card data never reaches this service: a client pays with a token from the provider, and
//! the provider tells the outcome later, by a signed webhook. A webhook event is applied to
//! the order it names (a payment's id leads to its order), whose stream remembers every
//! provider event id it applied: a redelivery, even days later, changes nothing.

use crate::AppState;
use crate::orders::{NO_ORDER, order_error, order_of};
use auth::Access;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use commands::{CommandError, Origin};
use domain::{
    Currency, Money, OrderCommand, OrderError, OrderEvent, PaymentId, PaymentToken, ProviderEvent,
    ProviderEventKind, RefundId,
};
use http_kit::{ApiError, FieldError, Fields, Page};
use payments::webhook::{self, WebhookEvent, WebhookKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/payments", post(create).get(list))
        .route("/payments/webhook", post(webhook_received))
        .route("/payments/{payment_id}", get(show))
}

const NO_PAYMENT: &str = "Payment not found";
/// Longest provider event id kept.
const MAX_EVENT_ID_BYTES: usize = 255;
/// Longest token accepted.
const MAX_TOKEN_CHARS: usize = 200;

/// A payment asked for.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the body; the handler reads it field by field"
)]
pub(crate) struct NewPayment {
    #[schema(example = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    order_id: String,
    /// Only `card` today.
    #[schema(example = "card")]
    method: String,
    /// The payment method's token from the provider (never card data); see README for the
    /// simulated provider's test tokens.
    #[schema(example = "tok_success", min_length = 1, max_length = 200)]
    token: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PaymentAccepted {
    #[schema(example = "pay_1_0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    payment_id: String,
    #[schema(example = "pending")]
    status: &'static str,
}

/// A payment as the API shows it.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct PaymentView {
    #[schema(example = "pay_1_0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    payment_id: String,
    #[schema(example = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")]
    order_id: String,
    #[schema(example = 3000)]
    amount: i64,
    #[schema(example = "EUR")]
    currency: String,
    /// `pending`, `succeeded`, `failed`, `refunded`, `partially_refunded` or `refund_failed`.
    #[schema(example = "succeeded")]
    status: String,
    /// Refunded so far, in minor units.
    #[schema(example = 0)]
    refunded_amount: i64,
    #[serde(skip)]
    owner_id: i64,
}

const COLUMNS: &str =
    "SELECT payment_id, order_id, amount, currency, status, refunded_amount, owner_id
                       FROM read_models.payments";

#[utoipa::path(
    post, path = "/payments", operation_id = "pay", tag = "payments",
    security(("bearer" = [])),
    params(crate::openapi::IdempotencyKey),
    request_body = NewPayment,
    responses(
        (status = 202, description = "Asked of the provider; the outcome follows by webhook. Header X-Event-Position carries the log position", body = PaymentAccepted),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Order not found, or another traveller's", body = crate::openapi::Detail),
        (status = 409, description = "`Order is not awaiting payment`, or `A payment of this order is already pending or succeeded`", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "An invalid body", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<AppState>,
    access: Access,
    mut body: Fields,
) -> Result<Response, ApiError> {
    let caller = *access.caller().ok_or(ApiError::NotAuthenticated)?;
    if state.webhook_secret().is_none() {
        return Err(ApiError::NotConfigured("Payments are not configured"));
    }
    let order_id = body.required_str("order_id", |raw| Ok::<_, String>(raw.to_owned()));
    let method = body.required_str("method", |raw| match raw {
        "card" => Ok(raw.to_owned()),
        _ => Err("method must be card"),
    });
    let token = body.required_str("token", |raw| {
        let chars = raw.chars().count();
        if (1..=MAX_TOKEN_CHARS).contains(&chars) && !raw.chars().any(char::is_control) {
            Ok(PaymentToken(raw.to_owned()))
        } else {
            Err(format!(
                "token must be 1 to {MAX_TOKEN_CHARS} printable characters"
            ))
        }
    });
    body.finish()?;
    let (Some(order_id), Some(method), Some(token)) = (order_id, method, token) else {
        return Err(ApiError::internal("a checked body lost a field"));
    };
    // Only the owner pays: an operator sees the order, but does not pay for it.
    let order = order_of(&state, &order_id, &access).await?;
    if order.owner != caller.user_id {
        return Err(ApiError::NotFound(NO_ORDER));
    }
    let command = OrderCommand::RequestPayment {
        method,
        token,
        at: Utc::now(),
    };
    let origin = Origin {
        cause: None,
        actor: Some(caller.user_id),
    };
    let order_id = order.order_id;
    let decided = state
        .orders()
        .execute_from(order_id.clone(), command, origin)
        .await
        .map_err(order_error)?;
    let payment_id = decided
        .events
        .iter()
        .find_map(|event| match event {
            OrderEvent::PaymentRequested { payment_id, .. } => Some(payment_id.to_string()),
            _ => None,
        })
        .ok_or_else(|| ApiError::internal("a payment was asked without PaymentRequested"))?;
    state.shown(&order_id.stream(), decided.position).await;
    let body = PaymentAccepted {
        payment_id,
        status: "pending",
    };
    let response = (StatusCode::ACCEPTED, Json(body)).into_response();
    Ok(http_kit::with_position(response, decided.position))
}

#[utoipa::path(
    get, path = "/payments/{payment_id}", operation_id = "get_payment", tag = "payments",
    security(("bearer" = [])),
    params(
        ("payment_id" = String, Path),
        ("X-Min-Position" = Option<String>, Header, nullable = false, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "Wait until the read models have passed this position (from a command's X-Event-Position)"),
    ),
    responses(
        (status = 200, body = PaymentView),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 404, description = "Payment not found, or another traveller's", body = crate::openapi::Detail),
        (status = 422, description = "An invalid X-Min-Position", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn show(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    access.caller().ok_or(ApiError::NotAuthenticated)?;
    state.catch_up(&headers).await?;
    let row: Option<PaymentView> = sqlx::query_as(&format!("{COLUMNS} WHERE payment_id = $1"))
        .bind(&payment_id)
        .fetch_optional(state.pool())
        .await?;
    row.filter(|row| access.may_touch(Some(domain::UserId(row.owner_id))))
        .map(Json)
        .ok_or(ApiError::NotFound(NO_PAYMENT))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PaymentFilter {
    /// Only payments in this status, such as `refund_failed`.
    status: Option<String>,
}

#[utoipa::path(
    get, path = "/payments", operation_id = "list_payments", tag = "payments",
    security(("bearer" = [])),
    params(
        PaymentFilter,
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000),
    ),
    responses(
        (status = 200, description = "The caller's payments, newest change first; every payment for an admin (`?status=refund_failed` lists the refunds still failing)", body = [PaymentView]),
        (status = 401, description = "Not signed in", body = crate::openapi::Detail),
        (status = 422, description = "An unknown status, or invalid paging", body = crate::openapi::Invalid),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn list(
    State(state): State<AppState>,
    access: Access,
    Query(filter): Query<PaymentFilter>,
    page: Page,
) -> Result<Json<Vec<PaymentView>>, ApiError> {
    let caller = access.caller().ok_or(ApiError::NotAuthenticated)?;
    const STATUSES: [&str; 6] = [
        "pending",
        "succeeded",
        "failed",
        "refunded",
        "partially_refunded",
        "refund_failed",
    ];
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::invalid(FieldError::new(
            &["query", "status"],
            format!("status must be one of {}", STATUSES.join(", ")),
            "value_error",
        )));
    }
    let only: Option<i64> = (!caller.is_admin()).then_some(caller.user_id.0);
    let rows: Vec<PaymentView> = sqlx::query_as(&format!(
        "{COLUMNS} WHERE ($3::bigint IS NULL OR owner_id = $3) AND ($4::text IS NULL OR status = $4)
         ORDER BY updated_at DESC, payment_id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .bind(only)
    .bind(filter.status)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(rows))
}

/// What the webhook did with an event.
#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookAnswer {
    /// `applied`, `duplicate` (already applied, or nothing left to change) or `ignored` (not
    /// a payment of ours).
    #[schema(example = "applied")]
    status: &'static str,
}

#[utoipa::path(
    post, path = "/payments/webhook", operation_id = "payment_webhook", tag = "payments",
    params(("Payment-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with PAYMENT_WEBHOOK_SECRET>`")),
    request_body(content = String, description = "`{\"event_id\",\"type\",\"payment_id\",\"amount\",\"currency\",\"created_at\"}` (and `refund_id` for refund events), as the provider signed it", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, or a duplicate that changed nothing", body = WebhookAnswer),
        (status = 400, description = "A bad or stale signature, a malformed body, or amounts that do not match the payment; nothing changed", body = crate::openapi::Detail),
        (status = 404, description = "Payments are not configured (no PAYMENT_WEBHOOK_SECRET)", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn webhook_received(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let secret = state
        .webhook_secret()
        .ok_or(ApiError::NotConfigured("Payments are not configured"))?;
    let signature = headers
        .get(webhook::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    if let Err(refused) = webhook::verify(secret, signature, &body, Utc::now()) {
        metrics::counter!("payment_webhooks_total", "outcome" => "bad_signature").increment(1);
        tracing::warn!(reason = %refused, "refused a webhook");
        return Err(ApiError::BadRequest("Invalid signature".into()));
    }
    let event: WebhookEvent = serde_json::from_slice(&body).map_err(|_| {
        metrics::counter!("payment_webhooks_total", "outcome" => "malformed").increment(1);
        ApiError::BadRequest("Malformed webhook body".into())
    })?;
    if event.event_id.is_empty() || event.event_id.len() > MAX_EVENT_ID_BYTES {
        return Err(ApiError::BadRequest("Malformed webhook body".into()));
    }
    let Some(event) = provider_event(event) else {
        metrics::counter!("payment_webhooks_total", "outcome" => "ignored").increment(1);
        return Ok(Json(WebhookAnswer { status: "ignored" }));
    };
    let order_id = event.payment_id.order();
    let command = OrderCommand::ApplyProviderEvent {
        event,
        at: Utc::now(),
    };
    let status = match state
        .orders()
        .execute_from(order_id.clone(), command, Origin::default())
        .await
    {
        Ok(decided) if decided.events.is_empty() => "duplicate",
        Ok(decided) => {
            state.shown(&order_id.stream(), decided.position).await;
            "applied"
        }
        Err(CommandError::Rejected(
            OrderError::OrderNotFound | OrderError::PaymentNotFound | OrderError::RefundNotFound,
        )) => "ignored",
        Err(CommandError::Rejected(OrderError::AmountMismatch)) => {
            metrics::counter!("payment_webhooks_total", "outcome" => "mismatch").increment(1);
            return Err(ApiError::BadRequest(
                "The amount does not match the payment".into(),
            ));
        }
        Err(other) => return Err(order_error(other)),
    };
    metrics::counter!("payment_webhooks_total", "outcome" => status).increment(1);
    Ok(Json(WebhookAnswer { status }))
}

/// The provider's event in the domain's terms; `None` for a payment or refund id that is
/// not one of ours, or a currency that is not one.
fn provider_event(event: WebhookEvent) -> Option<ProviderEvent> {
    let kind = match event.kind {
        WebhookKind::PaymentPending => ProviderEventKind::PaymentPending,
        WebhookKind::PaymentSucceeded => ProviderEventKind::PaymentSucceeded,
        WebhookKind::PaymentFailed => ProviderEventKind::PaymentFailed,
        WebhookKind::RefundSucceeded => ProviderEventKind::RefundSucceeded,
        WebhookKind::RefundFailed => ProviderEventKind::RefundFailed,
    };
    let refund_id = match event.refund_id {
        Some(raw) => Some(RefundId::parse(&raw).ok()?),
        None => None,
    };
    Some(ProviderEvent {
        event_id: event.event_id,
        kind,
        payment_id: PaymentId::parse(&event.payment_id).ok()?,
        refund_id,
        amount: Money {
            amount: event.amount,
            currency: Currency::parse(&event.currency).ok()?,
        },
    })
}
