//! The HTTP kit every service of the stack builds on: the one error type and its JSON mapping,
//! the request extractors, the shared OpenAPI schemas, the service routes (status, health,
//! metrics, fallbacks) and the common layer stack, and the Redis link.
//!
//! It is its own crate so that services share these pieces without depending on each other:
//! the gateway and the command API both build on it, and neither imports the other.

mod error;
pub mod input;
pub mod metrics;
pub mod openapi;
mod redis_link;
pub mod routes;
mod serve;

pub use error::{ApiError, FieldError, detail_response};
pub use input::{Body, Fields, Page, PathId, Valid};
pub use redis_link::RedisLink;
pub use serve::{ServeLimits, serve};

/// Response header carrying the log position of a command's events.
pub const POSITION_HEADER: &str = "x-event-position";
/// Request header asking a query to wait for a position.
pub const MIN_POSITION_HEADER: &str = "x-min-position";

/// The answer to a command: the bare id, with the log position of its events in
/// `X-Event-Position` so that a client can ask a later query to wait for it.
pub fn recorded(id: i64, position: Option<event_store::Position>) -> axum::response::Response {
    use axum::response::IntoResponse;
    with_position(axum::Json(id).into_response(), position)
}

/// `response` with the log position of a command's events in `X-Event-Position`, if any.
pub fn with_position(
    mut response: axum::response::Response,
    position: Option<event_store::Position>,
) -> axum::response::Response {
    if let Some(value) = position.and_then(|p| p.to_string().parse().ok()) {
        response.headers_mut().insert(POSITION_HEADER, value);
    }
    response
}
