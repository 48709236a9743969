//! The command API: train and booking commands append events; the documented GET paths read
//! the read models. Commands answer only once the read models show them (read your writes).

mod bookings;
mod error;
mod executor;
mod freshness;
mod idempotency;
pub mod ids;
pub mod input;
pub mod metrics;
pub mod openapi;
mod redis_link;
mod trains;

pub use error::{ApiError, FieldError};
pub use executor::{Aggregate, CommandError, Decided, Executor, ExecutorSettings};
pub use freshness::Freshness;
pub use redis_link::RedisLink;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use domain::{Lobby, Train};
use event_store::{AnyStore, Position};
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// This crate's migrations. Several crates migrate the same database with version numbers
/// that never collide, so each ignores the others' entries in the shared history.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or upgrades this crate's schema (the id sequences), for roles that allocate ids
/// without running the command API.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}

/// Settings of the command API role. No `Debug`: the Redis URL may hold a password.
#[derive(Clone, clap::Args)]
#[group(id = "command-api-settings")]
#[command(next_help_heading = "Command API")]
pub struct Settings {
    /// Address the command API listens on.
    #[arg(
        long = "command-api-listen",
        env = "COMMAND_API_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,

    /// Redis URL for Idempotency-Key replies; without it the header is ignored.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this service writes.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "booking:")]
    pub redis_key_prefix: String,

    /// How long an Idempotency-Key reply is kept, in seconds.
    #[arg(long, env = "IDEMPOTENCY_TTL_SECS", default_value_t = 86_400)]
    pub idempotency_ttl_secs: u64,

    /// Longest a command waits for the read models to show it, in milliseconds.
    #[arg(long, env = "READ_YOUR_WRITES_TIMEOUT_MS", default_value_t = 5_000)]
    pub read_your_writes_timeout_ms: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Longest a request may take before it is answered with 503, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Times a command is decided again after another process changed its stream first.
    #[arg(long, env = "COMMAND_RETRIES", default_value_t = 5)]
    pub command_retries: u32,

    /// Most commands on one stream decided into a single append.
    #[arg(long, env = "COMMAND_BATCH_MAX", default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    pub command_batch_max: u16,
}

impl Settings {
    /// Defaults for embedding and tests, listening on `listen`.
    pub fn with_listen(listen: SocketAddr) -> Self {
        Self {
            listen,
            redis_url: None,
            redis_key_prefix: "booking:".into(),
            idempotency_ttl_secs: 86_400,
            read_your_writes_timeout_ms: 5_000,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            command_retries: 5,
            command_batch_max: 256,
        }
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    trains: Executor<Train>,
    lobbies: Executor<Lobby>,
    ids: ids::Ids,
    freshness: Freshness,
    replies: idempotency::Replies,
    settings: Settings,
}

impl AppState {
    /// Runs the command API's migrations and wires its parts. `pool` is the read-model database.
    pub async fn new(
        settings: Settings,
        store: AnyStore,
        pool: PgPool,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        migrate(&pool).await?;
        let executor = ExecutorSettings {
            retries: settings.command_retries,
            max_batch: usize::from(settings.command_batch_max),
            ..ExecutorSettings::default()
        };
        let replies = idempotency::Replies::new(
            settings.redis_url.as_deref(),
            Duration::from_secs(settings.idempotency_ttl_secs),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                trains: Executor::new(store.clone(), executor),
                lobbies: Executor::new(store, executor),
                ids: ids::Ids::new(pool.clone()),
                freshness: Freshness::start(pool.clone(), shutdown),
                pool,
                replies,
                settings,
            }),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn trains(&self) -> &Executor<Train> {
        &self.inner.trains
    }

    pub fn lobbies(&self) -> &Executor<Lobby> {
        &self.inner.lobbies
    }

    pub fn ids(&self) -> &ids::Ids {
        &self.inner.ids
    }

    pub fn freshness(&self) -> &Freshness {
        &self.inner.freshness
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.read_your_writes_timeout_ms)
    }

    /// The answer to a command: the bare id, after the read models show the change, with the
    /// log position in `X-Event-Position` so a client can ask a later query to wait for it.
    pub(crate) async fn recorded(
        &self,
        id: i64,
        stream: &str,
        position: Option<Position>,
    ) -> Result<Response, ApiError> {
        Ok(self
            .freshness()
            .recorded(id, stream, position, self.read_timeout())
            .await)
    }

    /// Honours `X-Min-Position` on a query: waits (bounded) until the read models pass it.
    pub(crate) async fn catch_up(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(raw) = headers.get(MIN_POSITION_HEADER) else {
            return Ok(());
        };
        let position: Position = raw
            .to_str()
            .ok()
            .and_then(|raw| raw.parse().ok())
            .ok_or_else(|| {
                ApiError::invalid(FieldError::new(
                    &["header", "X-Min-Position"],
                    "X-Min-Position must be a position such as 1234.56",
                    "value_error",
                ))
            })?;
        self.freshness()
            .wait_all(position, self.read_timeout())
            .await;
        Ok(())
    }
}

/// Response header carrying the log position of a command's events.
pub const POSITION_HEADER: &str = "x-event-position";
/// Request header asking a query to wait for a position.
pub const MIN_POSITION_HEADER: &str = "x-min-position";

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let settings = &state.inner.settings;
    Router::new()
        .route("/status", get(status))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .merge(openapi::docs())
        .merge(trains::routes())
        .merge(bookings::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            settings.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(settings.request_timeout_ms),
            deadline,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// Serves until `shutdown`, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// `{"status": "OK", "message": ...}`, in the documented field order.
#[derive(serde::Serialize)]
struct Status {
    status: &'static str,
    message: &'static str,
}

#[utoipa::path(get, path = "/status", tag = "service", responses((status = 200, body = crate::openapi::StatusBody)))]
pub(crate) async fn status() -> Json<Status> {
    Json(Status {
        status: "OK",
        message: "Train booking service is running",
    })
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "OK" }))
}

async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query("SELECT 1").execute(state.pool()).await?;
    Ok(Json(json!({ "status": "OK" })))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found")
}

/// The JSON 405 of every router (command API and gateway alike).
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "detail": "Internal Server Error" })),
    )
        .into_response()
}
