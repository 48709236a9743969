//! The error type every HTTP service shares: business refusals become 4xx with a `detail`,
//! anything unexpected an opaque 500 that is logged once, in full, here. A service with
//! refusals of its own (the gateway's 429 and 504) wraps it in its own type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One invalid input, in the shape FastAPI clients know: `{"loc": [...], "msg": ..., "type": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: `["body", "route"]`, `["path", "train_id"]`, `["query", "limit"]`, ...
    #[schema(value_type = Vec<String>)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc: loc.iter().map(|part| json!(part)).collect(),
            msg: msg.into(),
            kind,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// 409 with `detail` and more fields beside it, such as the seats that were taken.
    #[error("{detail}")]
    ConflictWith {
        detail: &'static str,
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// 402: the caller must pay first (hold seats and place an order).
    #[error("{0}")]
    PaymentRequired(&'static str),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// No valid access token: 401 `Not authenticated`, with `WWW-Authenticate: Bearer`.
    #[error("not authenticated")]
    NotAuthenticated,
    /// Credentials that prove nothing (a wrong password, a spent refresh token): 401 with
    /// this detail and `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A valid token whose holder may not do this: 403 `Not allowed`.
    #[error("not allowed")]
    Forbidden,
    /// Too many attempts (failed logins, say): 429 with this detail and `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        detail: &'static str,
        retry_after_secs: u64,
    },
    /// A feature this deployment has not turned on: 404 with this detail, as for a path that
    /// does not exist (and not a 5xx, which a gateway would count against the instance).
    #[error("{0}")]
    NotConfigured(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("a dependency is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("request timed out")]
    Timeout,
    /// More requests in flight than the service takes: 503, retry in a second.
    #[error("too many requests in flight")]
    Busy,
    /// The aggregate's stream holds an event this release cannot decode (its kind given): a
    /// fix must be deployed first, so the client is told to come back later.
    #[error("the aggregate holds an undecodable event ({0})")]
    Unreadable(&'static str),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Self::NotFound(message) => (StatusCode::NOT_FOUND, json!(message)),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, json!("Method Not Allowed")),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, json!(message)),
            Self::Conflict(message) => (StatusCode::CONFLICT, json!(message)),
            Self::ConflictWith { detail, mut fields } => {
                fields.insert("detail".into(), json!(detail));
                return (StatusCode::CONFLICT, axum::Json(fields)).into_response();
            }
            Self::PaymentRequired(detail) => (StatusCode::PAYMENT_REQUIRED, json!(detail)),
            Self::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, json!(errors)),
            Self::NotAuthenticated => return unauthorized("Not authenticated"),
            Self::Unauthorized(detail) => return unauthorized(detail),
            Self::TooManyRequests {
                detail,
                retry_after_secs,
            } => {
                return detail_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!(detail),
                    Some(retry_after_secs),
                );
            }
            Self::NotConfigured(detail) => (StatusCode::NOT_FOUND, json!(detail)),
            Self::Forbidden => (StatusCode::FORBIDDEN, json!("Not allowed")),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!("Request body too large"),
            ),
            Self::Unavailable(source) => {
                tracing::warn!(error = %source, cause = ?source.source(), "dependency unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!("Service temporarily unavailable, please retry"),
                )
            }
            Self::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("Request timed out, please retry"),
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("Too busy, please retry"),
            ),
            Self::Unreadable(kind) => {
                tracing::error!(error_kind = kind, "a command met an event it cannot decode");
                return detail_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!("Temporarily unavailable"),
                    Some(UNREADABLE_RETRY_AFTER_SECS),
                );
            }
            Self::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!("Internal Server Error"),
                )
            }
        };
        let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1);
        detail_response(status, detail, retry_after)
    }
}

/// 401 with `detail` and the challenge that names the scheme to use.
fn unauthorized(detail: &str) -> Response {
    let mut response = detail_response(StatusCode::UNAUTHORIZED, json!(detail), None);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// How long a client is told to wait when an aggregate cannot be read: a fix takes a deploy.
const UNREADABLE_RETRY_AFTER_SECS: u64 = 30;

/// `{"detail": ...}` with `status`, and `Retry-After` when the client should come back later.
pub fn detail_response(
    status: StatusCode,
    detail: serde_json::Value,
    retry_after_secs: Option<u64>,
) -> Response {
    let mut response = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match event_store::postgres::classify(error) {
            event_store::StoreError::Unavailable(source) => Self::Unavailable(source),
            other => Self::internal(other),
        }
    }
}

impl From<event_store::StoreError> for ApiError {
    fn from(error: event_store::StoreError) -> Self {
        match error {
            event_store::StoreError::Unavailable(source) => Self::Unavailable(source),
            event_store::StoreError::WrongExpectedRevision { .. } => {
                Self::Conflict("Concurrent change, please retry".into())
            }
            other => Self::internal(other),
        }
    }
}
