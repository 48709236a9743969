//! The lobby gateway: the one door users enter through. It serves the lobby service (lobby
//! commands on their own streams, GET paths from the read models, live websocket lobbies)
//! under `/ls` and directly, and forwards `/ts/...` to the command API instances behind a
//! timeout, a circuit breaker per instance and a per-client rate limit shared through Redis.
//! The lobby paths sit behind the auth crate's door (`AUTH`): with tokens required, lobbies
//! change only for admins and booking or joining one needs a signed-in caller. `/ws/me` pushes
//! a signed-in user's own order steps, so it needs a user whatever `AUTH` says.

mod breaker;
mod chat;
mod client;
pub use client::TrustedProxies;
mod error;
mod feed;
mod hub;
mod lobbies;
mod me;
mod openapi;
mod rate_limit;
mod socket;
mod upstream;
mod ws;

use auth::{AuthMode, AuthSecret, Door, KeyRing, KeyRingSettings};
use axum::extract::{FromRef, State};
use axum::response::Response;
use axum::routing::{any, get};
use axum::{Json, Router};
use commands::{Executor, ExecutorSettings, Follower, Freshness, Ids};
use domain::{Lobby, Train, TrainId};
use event_store::{AnyStore, Position};
use http_kit::routes::{self, StatusBody};
use http_kit::{ApiError, RedisLink};
use hub::Hub;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Settings of the lobby gateway role. No `Debug`: the Redis URL may hold a password, and
/// the auth secret is one.
#[derive(Clone, clap::Args)]
#[group(id = "lobby-gateway-settings")]
#[command(next_help_heading = "Lobby gateway")]
pub struct Settings {
    /// Address the gateway listens on.
    #[arg(
        id = "gateway_listen",
        value_name = "ADDRESS",
        long = "gateway-listen",
        env = "GATEWAY_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Serve `/metrics` on this address only, off the public port (compose does). Unset: on
    /// the public port.
    #[arg(
        id = "gateway_metrics_listen",
        value_name = "ADDRESS",
        long = "gateway-metrics-listen",
        env = "GATEWAY_METRICS_LISTEN"
    )]
    pub metrics_listen: Option<SocketAddr>,

    /// Command API base URLs, comma separated; `/ts/...` and start-booking spread over them.
    #[arg(
        long = "command-api-urls",
        env = "COMMAND_API_URLS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8081"
    )]
    pub upstreams: Vec<String>,

    /// Longest the gateway waits for a command API answer before a 504, in milliseconds.
    #[arg(long, env = "GATEWAY_UPSTREAM_TIMEOUT_MS", default_value_t = 10_000)]
    pub upstream_timeout_ms: u64,

    /// Consecutive failures of one command API instance that open its circuit breaker.
    #[arg(long, env = "GATEWAY_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_failures: u32,

    /// How long an open breaker refuses before letting one probe through, in milliseconds.
    #[arg(long, env = "GATEWAY_BREAKER_COOLDOWN_MS", default_value_t = 5_000)]
    pub breaker_cooldown_ms: u64,

    /// Requests per client per window; 0 turns the rate limit off.
    #[arg(long, env = "GATEWAY_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,

    /// Length of a rate-limit window, in milliseconds.
    #[arg(long, env = "GATEWAY_RATE_WINDOW_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_ms: u64,

    /// The proxies in front of the gateway, whose X-Forwarded-For entries are believed: empty
    /// for none (the connection's peer is the client), a number of hops, or CIDR networks,
    /// comma separated. The client is the right-most hop that is not a trusted proxy; IPv6
    /// clients are counted by their /64.
    #[arg(long, env = "GATEWAY_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: client::TrustedProxies,

    /// Redis URL for the shared rate limit and chat across instances (the same variable as
    /// the command API's); without it (or while it is down) each instance limits on its own and
    /// chat stays in this instance.
    #[arg(
        id = "gateway_redis_url",
        value_name = "URL",
        long = "gateway-redis-url",
        env = "REDIS_URL"
    )]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel the gateway uses.
    #[arg(
        id = "gateway_redis_key_prefix",
        value_name = "PREFIX",
        long = "gateway-redis-key-prefix",
        env = "GATEWAY_REDIS_KEY_PREFIX",
        default_value = "gateway:"
    )]
    pub redis_key_prefix: String,

    /// Most open websockets per instance; more are closed with 1013.
    #[arg(long, env = "GATEWAY_MAX_WEBSOCKETS", default_value_t = 10_000)]
    pub max_websockets: usize,

    /// Most open websockets per client (see GATEWAY_TRUSTED_PROXIES); more are closed with 1013.
    #[arg(long, env = "GATEWAY_WS_PER_CLIENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_per_client: u32,

    /// How often each websocket (a lobby member, or a `/ws/me`) is pinged, in milliseconds.
    #[arg(long, env = "GATEWAY_WS_PING_MS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_ping_ms: u64,

    /// A websocket heard nothing from (not even a pong) for this long, in milliseconds, is closed
    /// with 1001.
    #[arg(long, env = "GATEWAY_WS_IDLE_MS", default_value_t = 60_000)]
    pub ws_idle_ms: u64,

    /// Chat lines a member may send per chat window; more are refused with an error message.
    #[arg(long, env = "GATEWAY_CHAT_LIMIT", default_value_t = 5)]
    pub chat_limit: u32,

    /// Length of a chat window, in milliseconds.
    #[arg(long, env = "GATEWAY_CHAT_WINDOW_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chat_window_ms: u64,

    /// Most events a member reconnecting with `?after=` may have missed (for `/ws/me`, events of
    /// the user's orders); further behind, it is closed with 1008 `resync` and should read the
    /// lobby (or its orders) afresh.
    #[arg(long, env = "GATEWAY_WS_REPLAY_MAX", default_value_t = 1_000)]
    pub ws_replay_max: usize,

    /// Largest websocket message a client may send, in bytes; larger ones close with 1009.
    #[arg(long, env = "GATEWAY_WS_MAX_MESSAGE_BYTES", default_value_t = 4096)]
    pub ws_max_message_bytes: usize,

    /// Messages a websocket may fall behind before it is dropped (closed with 1013).
    #[arg(long, env = "GATEWAY_WS_BUFFER", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_buffer: u32,

    /// Longest one websocket send may take before the socket is dropped, in milliseconds.
    #[arg(long, env = "GATEWAY_WS_SEND_TIMEOUT_MS", default_value_t = 5_000)]
    pub ws_send_timeout_ms: u64,

    /// Longest a client may take to send a request's headers, in milliseconds; then the
    /// connection is closed (slowloris clients cannot hold connections).
    #[arg(id = "gateway_header_read_timeout_ms", value_name = "MS", long = "gateway-header-read-timeout-ms", env = "GATEWAY_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// Most connections open at once (an upgraded websocket no longer counts; see
    /// GATEWAY_MAX_WEBSOCKETS); more wait to be accepted.
    #[arg(id = "gateway_max_connections", value_name = "COUNT", long = "gateway-max-connections", env = "GATEWAY_MAX_CONNECTIONS", default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Longest a request to the gateway may take before it is answered 503, in milliseconds.
    #[arg(id = "gateway_request_timeout_ms", value_name = "MS", long = "gateway-request-timeout-ms", env = "GATEWAY_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Largest accepted request body, in bytes.
    #[arg(id = "gateway_max_body_bytes",
        value_name = "BYTES", long = "gateway-max-body-bytes", env = "GATEWAY_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Longest a lobby command waits for the read models to show it, in milliseconds.
    #[arg(
        id = "lobby_read_your_writes_timeout_ms",
        value_name = "MS",
        long = "lobby-read-your-writes-timeout-ms",
        env = "LOBBY_READ_YOUR_WRITES_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub read_your_writes_timeout_ms: u64,

    /// Whether the lobby paths need a token: `required` (changing lobbies is for admins,
    /// start-booking and the lobby websocket for signed-in callers), or `off`: insecure, every
    /// seed path open to anyone without a token.
    #[arg(
        id = "gateway_auth",
        value_name = "MODE",
        long = "gateway-auth",
        env = "AUTH",
        default_value = "required"
    )]
    pub auth: AuthMode,

    /// The secret the command API's signing keys are sealed under (the same variable as the
    /// command API's); the gateway only verifies tokens with them. Needed with `AUTH=required`.
    #[arg(
        id = "gateway_auth_secret",
        value_name = "SECRET",
        long = "gateway-auth-secret",
        env = "AUTH_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub auth_secret: String,

    /// Whether start-up brings the schemas the gateway uses up to date (the id sequences, and
    /// with `AUTH=required` the signing keys). Not a flag of its own: the binary sets it from
    /// `MIGRATE`, false when `booking migrate` has done it and the gateway's database role may
    /// not run DDL.
    #[arg(skip = true)]
    pub migrate: bool,
}

impl Settings {
    /// Defaults for embedding and tests: listening on `listen`, forwarding to `upstreams`, with
    /// `AUTH=off` and no secret (unlike the command line, whose default is `required`), so a
    /// test or an embedding opts into tokens by setting `auth` and `auth_secret`.
    pub fn new(listen: SocketAddr, upstreams: Vec<String>) -> Self {
        Self {
            listen,
            metrics_listen: None,
            upstreams,
            upstream_timeout_ms: 10_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 5_000,
            rate_limit: 100,
            rate_window_ms: 1_000,
            trusted_proxies: client::TrustedProxies::None,
            redis_url: None,
            redis_key_prefix: "gateway:".into(),
            max_websockets: 10_000,
            ws_per_client: 20,
            ws_ping_ms: 20_000,
            ws_idle_ms: 60_000,
            chat_limit: 5,
            chat_window_ms: 10_000,
            ws_replay_max: 1_000,
            ws_max_message_bytes: 4096,
            ws_buffer: 256,
            ws_send_timeout_ms: 5_000,
            max_body_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            max_connections: 4_096,
            request_timeout_ms: 30_000,
            read_your_writes_timeout_ms: 5_000,
            auth: AuthMode::Off,
            auth_secret: String::new(),
            migrate: true,
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
    store: AnyStore,
    trains: Executor<Train>,
    lobbies: Executor<Lobby>,
    ids: Ids,
    freshness: Freshness,
    upstreams: upstream::Upstreams,
    /// The command API's OpenAPI document, once an instance gave it.
    upstream_document: tokio::sync::OnceCell<utoipa::openapi::OpenApi>,
    limiter: rate_limit::RateLimiter,
    hub: Arc<Hub>,
    chat: Arc<chat::Chat>,
    sockets: Arc<Semaphore>,
    /// Open websockets per client, capped at `ws_per_client`.
    client_sockets: Arc<socket::ClientSockets>,
    door: Arc<Door>,
    /// The websocket tasks, which outlive their HTTP requests, and the background tasks
    /// (log feed, chat, command workers, checkpoint follower); `run` waits for them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    settings: Settings,
}

impl AppState {
    /// Applies the id sequences' migration, starts following the log and (with Redis) the
    /// chat channel, until `shutdown`. `pool` is the read-model database; lobby commands wait
    /// for the `read_models` that follow their streams.
    pub async fn new(
        settings: Settings,
        store: AnyStore,
        pool: PgPool,
        read_models: Vec<Follower>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        if settings.migrate {
            commands::migrate(&pool).await?;
        }
        // A read database made anew must not hand out an id the log already holds.
        let read = Ids::new(pool.clone()).move_past_the_log(&store).await?;
        if read > 0 {
            tracing::info!(events = read, "moved the id sequences past the event log");
        }
        anyhow::ensure!(
            !settings.upstreams.is_empty(),
            "at least one command API URL is needed"
        );
        let redis = Arc::new(RedisLink::new(
            settings.redis_url.as_deref(),
            "the rate limit and chat stay within this instance for now",
        )?);
        let tracker = TaskTracker::new();
        let door = Arc::new(door(&settings, &pool, &tracker, &shutdown).await?);
        let hub = Arc::new(Hub::new(settings.ws_buffer as usize));
        tracker.spawn(feed::follow(
            Arc::clone(&hub),
            store.clone(),
            pool.clone(),
            shutdown.clone(),
        ));
        let chat = chat::Chat::start(
            Arc::clone(&redis),
            Arc::clone(&hub),
            format!("{}chat", settings.redis_key_prefix),
            &tracker,
            shutdown.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                trains: executor(&store, &tracker, &shutdown),
                lobbies: executor(&store, &tracker, &shutdown),
                ids: Ids::new(pool.clone()),
                freshness: Freshness::start(
                    pool.clone(),
                    read_models,
                    Vec::new(),
                    &tracker,
                    shutdown.clone(),
                ),
                upstreams: upstream::Upstreams::new(&settings)?,
                upstream_document: tokio::sync::OnceCell::new(),
                limiter: rate_limit::RateLimiter::new(redis, &settings),
                sockets: Arc::new(Semaphore::new(settings.max_websockets)),
                client_sockets: Arc::new(socket::ClientSockets::new(settings.ws_per_client)),
                door,
                tracker,
                hub,
                chat,
                pool,
                store,
                shutdown,
                settings,
            }),
        })
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.read_your_writes_timeout_ms)
    }

    /// The answer to a lobby command: the bare id once the read models show the change.
    async fn recorded(&self, id: i64, train_id: TrainId, position: Option<Position>) -> Response {
        if let Some(position) = position {
            self.inner
                .freshness
                .wait(&train_id.lobby_stream(), position, self.read_timeout())
                .await;
        }
        http_kit::recorded(id, position)
    }

    /// Lobby members connected to this instance.
    pub fn members(&self) -> usize {
        self.inner.hub.members()
    }

    /// True once the log feed and (with Redis) the chat channel are followed.
    pub fn is_ready(&self) -> bool {
        self.inner.hub.is_following() && self.inner.chat.is_listening()
    }
}

impl FromRef<AppState> for Arc<Door> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.door)
    }
}

/// The door of the lobby paths. With `AUTH=required` it holds the key ring the command API
/// signs with: the gateway never signs, but the keys are sealed under the secret, and
/// `keep_fresh` picks up a rotation. With `AUTH=off` no ring is loaded, secret or not.
async fn door(
    settings: &Settings,
    pool: &PgPool,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Door> {
    let ring = match (settings.auth, settings.auth_secret.as_str()) {
        (AuthMode::Off, _) | (AuthMode::Required, "") => None,
        (AuthMode::Required, secret) => {
            let secret = AuthSecret::new(secret.as_bytes())?;
            if settings.migrate {
                auth::migrate(pool).await?;
            }
            let ring = KeyRing::load(pool.clone(), &secret, KeyRingSettings::default()).await?;
            let ring = Arc::new(ring);
            tracker.spawn(Arc::clone(&ring).keep_fresh(shutdown.clone()));
            Some(ring)
        }
    };
    Ok(Door::new(settings.auth, ring)?)
}

fn executor<A: commands::Aggregate>(
    store: &AnyStore,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Executor<A> {
    Executor::new(
        store.clone(),
        ExecutorSettings::default(),
        tracker.clone(),
        shutdown.clone(),
    )
}

/// The whole HTTP surface: the gateway's own paths, `/ts/...` forwarded, and the lobby
/// service (with the user's own socket, `/ws/me`) under `/ls` and directly.
pub fn router(state: AppState) -> Router {
    let settings = &state.inner.settings;
    let lobby_service = lobbies::routes()
        .merge(me::routes())
        .route("/status", get(lobby_status));
    let router = Router::new()
        .route("/status", get(gateway_status))
        .route("/health/ready", get(ready))
        .route("/openapi.json", get(openapi::document))
        .merge(routes::service(settings.metrics_listen.is_some()))
        .merge(openapi::docs())
        .route("/ts", any(upstream::forward))
        .route("/ts/{*rest}", any(upstream::forward))
        // Accounts live in the command API; the gateway is their door too.
        .route("/api/users/{*rest}", any(upstream::forward))
        .route("/.well-known/jwks.json", any(upstream::forward))
        .nest("/ls", lobby_service)
        .merge(lobbies::routes())
        .merge(me::routes())
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(settings.request_timeout_ms),
            routes::deadline,
        ))
        .with_state(state.clone());
    let router = routes::common(router, settings.max_body_bytes).layer(
        axum::middleware::from_fn_with_state(state, rate_limit::layer),
    );
    routes::outer(router)
}

/// Serves until `shutdown`, then finishes in-flight requests, closes every websocket with a
/// close frame and waits for the background tasks to stop.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tracker = state.inner.tracker.clone();
    let settings = &state.inner.settings;
    let limits = http_kit::ServeLimits {
        header_read_timeout: Duration::from_millis(settings.header_read_timeout_ms),
        max_connections: settings.max_connections as usize,
    };
    let metrics = settings.metrics_listen;
    let served = http_kit::serve(
        listener,
        router(state),
        limits,
        metrics,
        shutdown.cancelled_owned(),
    )
    .await;
    tracker.close();
    tracker.wait().await;
    served
}

#[utoipa::path(get, path = "/status", operation_id = "gateway_status", tag = "service", responses((status = 200, body = StatusBody)))]
pub(crate) async fn gateway_status() -> Json<StatusBody> {
    StatusBody::running("Gateway is running")
}

#[utoipa::path(get, path = "/ls/status", operation_id = "lobby_status", tag = "service", responses((status = 200, body = StatusBody)))]
pub(crate) async fn lobby_status() -> Json<StatusBody> {
    StatusBody::running("Lobby service is running")
}

async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let ok = routes::database_ready(&state.inner.pool).await?;
    // Redis is not part of readiness: without it the gateway degrades, it does not stop.
    if !state.inner.hub.is_following() {
        return Err(ApiError::Unavailable(
            "the log feed is not followed yet".into(),
        ));
    }
    Ok(ok)
}
