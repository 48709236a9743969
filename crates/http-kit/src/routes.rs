//! The routes and layers every service has: `/status`, liveness and readiness, `/metrics`, the
//! JSON 404 and 405 fallbacks, a request deadline, and the layer stack that turns a panicking
//! handler into an opaque 500.

use crate::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

/// `{"status": "OK", "message": ...}`, in the documented field order.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    #[schema(value_type = String)]
    status: &'static str,
    #[schema(value_type = String)]
    message: &'static str,
}

impl StatusBody {
    /// The status answer of a service that says `message`, e.g. "Gateway is running".
    pub fn running(message: &'static str) -> Json<Self> {
        Json(Self {
            status: "OK",
            message,
        })
    }
}

/// `/health/live`, and `/metrics` unless `metrics_elsewhere` (it is then served by
/// [`serve_metrics`] on an address of its own); readiness differs per service, so each adds
/// its own.
pub fn service<S: Clone + Send + Sync + 'static>(metrics_elsewhere: bool) -> Router<S> {
    let router = Router::new().route("/health/live", get(live));
    if metrics_elsewhere {
        router
    } else {
        router.route("/metrics", get(crate::metrics::render))
    }
}

/// Serves `/metrics` alone on `address` until `shutdown`: off the public port, where only the
/// scraper reaches it.
pub async fn serve_metrics(
    address: std::net::SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let router = Router::new()
        .route("/metrics", get(crate::metrics::render))
        .fallback(not_found);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn live() -> Json<serde_json::Value> {
    ok()
}

/// The body of a healthy probe.
fn ok() -> Json<serde_json::Value> {
    Json(json!({ "status": "OK" }))
}

/// Ready when the read-model database answers.
pub async fn database_ready(pool: &sqlx::PgPool) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(ok())
}

/// Ready when the database holding `runners`' quarantine (`table`) answers; degraded, still
/// 200, while any of them holds quarantined events: `{"status":"degraded","quarantined":n}`.
/// Never 503 for poison, or one bad event would have every healthcheck take the stack down.
pub async fn runners_ready(
    pool: &sqlx::PgPool,
    table: &str,
    runners: &[String],
) -> Result<Response, ApiError> {
    let quarantined = event_store::quarantine::count(pool, table, runners).await?;
    if quarantined == 0 {
        return Ok(ok().into_response());
    }
    Ok(Json(Degraded {
        status: "degraded",
        quarantined,
    })
    .into_response())
}

/// A ready answer with quarantined events, in the documented field order.
#[derive(serde::Serialize)]
struct Degraded {
    status: &'static str,
    quarantined: i64,
}

/// The JSON 404 of every router.
async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found")
}

/// The JSON 405 of every router.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Answers 503 when a request takes longer than `limit`.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Sheds load: a request beyond the `permits` in flight is answered 503 `Too busy, please
/// retry` with `Retry-After: 1` at once, rather than queueing until every request is late.
pub async fn in_flight(
    State(permits): State<std::sync::Arc<tokio::sync::Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match permits.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            metrics::counter!("http_requests_shed_total").increment(1);
            ApiError::Busy.into_response()
        }
    }
}

/// The fallbacks and the outer layers every service has: a body limit, request tracing, and a
/// panicking handler answered with an opaque 500 instead of a dropped connection.
pub fn common(router: Router, max_body_bytes: usize) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
}

/// The outermost layers: tracing and the panic guard. Apply after every other layer.
pub fn outer(router: Router) -> Router {
    router
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

/// The span of one request, like tower-http's default but with the path only: a query string
/// may carry a token (`?access_token=` on a websocket upgrade), and tokens are never logged.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        http.method = %request.method(),
        http.path = request.uri().path(),
        http.version = ?request.version(),
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "detail": "Internal Server Error" })),
    )
        .into_response()
}
