//! The command API: train and booking commands append events; the documented GET paths read
//! the read models. Commands answer only once the read models show them (read your writes).

mod bookings;
mod holds;
mod idempotency;
pub mod openapi;
mod orders;
mod payments;
mod reactors;
mod search;
mod seats;
mod trains;
mod users;

pub use reactors::{names as reactor_names, retry as retry_reactions};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use commands::reactor::RunnerSettings;
use commands::{Executor, ExecutorSettings, Follower, Freshness, Ids};
use domain::Train;
use event_store::{AnyStore, Position};
use http_kit::routes::{self, StatusBody};
use http_kit::{ApiError, FieldError, MIN_POSITION_HEADER};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

    /// Serve `/metrics` on this address only, off the public port (compose does). Unset:
    /// on the public port.
    #[arg(long, env = "METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

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

    /// Longest a client may take to send a request's headers, in milliseconds; then the
    /// connection is closed (slow clients cannot hold connections).
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// Most connections open at once; more wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most requests in flight at once; more are answered 503 at once.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 1_024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Times a command is decided again after another process changed its stream first.
    #[arg(long, env = "COMMAND_RETRIES", default_value_t = 5)]
    pub command_retries: u32,

    /// Most commands on one stream decided into a single append.
    #[arg(long, env = "COMMAND_BATCH_MAX", default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    pub command_batch_max: u16,

    /// `required`: trains change only for admins, and bookings belong to the signed-in
    /// traveller who made them (needs AUTH_SECRET). `off`: insecure, every train and booking
    /// path is open to anyone without a token, as before accounts existed.
    #[arg(long, env = "AUTH", default_value_t = auth::AuthMode::Required)]
    pub auth: auth::AuthMode,

    /// Secret every instance shares, at least 32 bytes: it seals the token signing keys and
    /// each account's data key, and keys the hashes emails are known by. Losing it makes every
    /// sealed profile unreadable. Empty: no accounts, and `/api/users` answers 404. Read as
    /// text and checked at start-up, so that a refusal never repeats it.
    #[arg(
        long,
        env = "AUTH_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub auth_secret: String,

    /// How long an access token is valid, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// How long a refresh token is valid, in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 2_592_000)]
    pub refresh_token_ttl_secs: u64,

    /// Failed logins for one email in 15 minutes before logins for it answer 429.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Email of the first admin, created at start-up (named `admin`, with ADMIN_PASSWORD) if no
    /// account holds it yet. Empty: none.
    #[arg(long, env = "ADMIN_EMAIL", default_value = "")]
    pub admin_email: String,

    /// Password of the first admin (8 to 128 characters), read only to create that account.
    #[arg(
        long,
        env = "ADMIN_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub admin_password: String,

    /// Base prices of a train registered without `prices`, in minor units of its currency:
    /// `first=<amount>,second=<amount>`. 0 is free: anyone may book such a train without
    /// paying.
    #[arg(long, env = "DEFAULT_PRICES", default_value = "first=0,second=0")]
    pub default_prices: trains::BasePrices,

    /// How long a hold keeps its seats, in seconds.
    #[arg(long, env = "HOLD_TTL_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub hold_ttl_secs: u64,

    /// Most live holds one traveller may have on one train.
    #[arg(long, env = "MAX_HOLDS_PER_USER_PER_TRAIN", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_holds_per_user_per_train: u32,

    /// How often the expiry timer looks for holds whose time is up, in milliseconds.
    #[arg(long, env = "HOLD_EXPIRY_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub hold_expiry_poll_ms: u64,

    /// How long an order's holds wait for its payment, in seconds (`pay_by`).
    #[arg(long, env = "PAYMENT_WINDOW_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub payment_window_secs: u64,

    /// How long before `pay_by` the owner is warned (`hold_expiring` on `/ws/me`), in seconds.
    #[arg(long, env = "HOLD_WARNING_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub hold_warning_secs: u64,

    /// Cancelled more than this many hours before departure: a full refund.
    #[arg(long, env = "REFUND_FULL_BEFORE_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u32).range(0..=8_760))]
    pub refund_full_before_hours: u32,

    /// Cancelled at least this many hours before departure (and not more than
    /// REFUND_FULL_BEFORE_HOURS): a refund of REFUND_PARTIAL_PERCENT; nothing later.
    #[arg(long, env = "REFUND_PARTIAL_BEFORE_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=8_760))]
    pub refund_partial_before_hours: u32,

    /// The share refunded between the two times above, in percent.
    #[arg(long, env = "REFUND_PARTIAL_PERCENT", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub refund_partial_percent: u8,

    /// The payment provider's adapter: `simulated` (the in-repo simulator) is the only one.
    #[arg(long, env = "PAYMENT_PROVIDER", default_value = "simulated")]
    pub payment_provider: ::payments::ProviderKind,

    /// Where the provider's API is: the simulator's address for `simulated`.
    #[arg(
        long,
        env = "PAYMENT_PROVIDER_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub payment_provider_url: String,

    /// Secret the provider signs its webhooks with (shared with the simulator). Empty:
    /// payments are off, and `/payments` answers 404.
    #[arg(
        long,
        env = "PAYMENT_WEBHOOK_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub payment_webhook_secret: String,

    /// Whether start-up brings the schemas the service uses up to date (the id sequences,
    /// and with accounts the signing keys and credentials). Not a flag of its own: the binary
    /// sets it from `MIGRATE`, false when `booking migrate` has done it and the service's
    /// database role may not run DDL.
    #[arg(skip = true)]
    pub migrate: bool,
}

impl Settings {
    /// Defaults for embedding and tests, listening on `listen`: without accounts, so with
    /// `AUTH=off` (the command line's default is `required`).
    pub fn with_listen(listen: SocketAddr) -> Self {
        Self {
            listen,
            metrics_listen: None,
            redis_url: None,
            redis_key_prefix: "booking:".into(),
            idempotency_ttl_secs: 86_400,
            read_your_writes_timeout_ms: 5_000,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            max_connections: 4_096,
            max_in_flight: 1_024,
            command_retries: 5,
            command_batch_max: 256,
            auth: auth::AuthMode::Off,
            auth_secret: String::new(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 2_592_000,
            login_max_failures: 5,
            admin_email: String::new(),
            admin_password: String::new(),
            default_prices: trains::BasePrices {
                first: 0,
                second: 0,
            },
            hold_ttl_secs: 600,
            max_holds_per_user_per_train: 3,
            hold_expiry_poll_ms: 500,
            payment_window_secs: 900,
            hold_warning_secs: 120,
            refund_full_before_hours: 168,
            refund_partial_before_hours: 24,
            refund_partial_percent: 50,
            payment_provider: ::payments::ProviderKind::Simulated,
            payment_provider_url: "http://127.0.0.1:8090".into(),
            payment_webhook_secret: String::new(),
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
    /// The aggregates' executors, shared with the reactors that command them.
    targets: reactors::Targets,
    ids: Ids,
    freshness: Freshness,
    replies: idempotency::Replies,
    settings: Settings,
    /// The command workers, the checkpoint follower, the reactors and the keyed requests
    /// (which run to their end even when their client goes away); `run` waits for them.
    tracker: TaskTracker,
    /// The projections and reactors commands wait for: readiness reports their quarantine.
    runners: Vec<String>,
    /// Accounts, when `AUTH_SECRET` is set.
    accounts: Option<users::Accounts>,
    /// Who may use the train and booking paths (`AUTH`).
    door: Arc<auth::Door>,
    /// What webhooks are signed with, when payments are on.
    webhook_secret: Option<::payments::webhook::WebhookSecret>,
}

impl axum::extract::FromRef<AppState> for Arc<auth::Door> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.door)
    }
}

impl AppState {
    /// Runs the id sequences' migration, starts the reactors and follows the checkpoints of
    /// the `read_models` (the projections that commands wait for) and of the reactors, until
    /// `shutdown`. `pool` is the read-model database.
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
        let executor = ExecutorSettings {
            retries: settings.command_retries,
            max_batch: usize::from(settings.command_batch_max),
            ..ExecutorSettings::default()
        };
        let replies = idempotency::Replies::new(
            settings.redis_url.as_deref(),
            Duration::from_secs(settings.idempotency_ttl_secs),
            Duration::from_millis(settings.request_timeout_ms),
        )?;
        let tracker = TaskTracker::new();
        let secret = match settings.auth_secret.as_str() {
            "" => None,
            secret => Some(auth::AuthSecret::new(secret.as_bytes())?),
        };
        let accounts = match &secret {
            Some(secret) => {
                let redis = http_kit::RedisLink::new(
                    settings.redis_url.as_deref(),
                    "failed logins are counted per instance for now",
                )?;
                let accounts = users::Accounts::start(&settings, secret, &pool, redis).await?;
                tracker.spawn(Arc::clone(&accounts.ring).keep_fresh(shutdown.clone()));
                Some(accounts)
            }
            None => None,
        };
        let door = auth::Door::new(
            settings.auth,
            accounts.as_ref().map(|accounts| Arc::clone(&accounts.ring)),
        )?;
        let targets = reactors::Targets::new(&store, executor, &tracker, &shutdown);
        let shutdown_for_timer = shutdown.clone();
        let reactors = reactors::start(reactors::Context {
            store: &store,
            pool: &pool,
            targets: targets.clone(),
            settings: RunnerSettings::default(),
            tracker: &tracker,
            shutdown: &shutdown,
        });
        // The dispatcher is no follower that commands wait for (a provider outage must not
        // hold placements back), but readiness reports its quarantine too.
        let runners = read_models
            .iter()
            .chain(&reactors)
            .map(|follower| follower.name.clone())
            .chain([orders::dispatch::NAME.to_owned()])
            .collect();
        let webhook_secret = match settings.payment_webhook_secret.as_str() {
            "" => None,
            secret => Some(::payments::webhook::WebhookSecret::from(secret.to_owned())),
        };
        if webhook_secret.is_some() {
            let provider = ::payments::AnyProvider::new(
                settings.payment_provider,
                &settings.payment_provider_url,
            );
            let dispatcher = orders::dispatch::Dispatcher::new(
                store.clone(),
                pool.clone(),
                targets.clone(),
                provider,
            );
            tracker.spawn(dispatcher.run(shutdown.clone()));
        }
        let state = Self {
            inner: Arc::new(Inner {
                targets,
                ids: Ids::new(pool.clone()),
                freshness: Freshness::start(
                    pool.clone(),
                    read_models,
                    reactors,
                    &tracker,
                    shutdown,
                ),
                pool,
                store,
                replies,
                settings,
                tracker,
                runners,
                accounts,
                door: Arc::new(door),
                webhook_secret,
            }),
        };
        state.inner.tracker.spawn(holds::expiry::run(
            state.clone(),
            Duration::from_millis(state.inner.settings.hold_expiry_poll_ms),
            shutdown_for_timer.clone(),
        ));
        state.inner.tracker.spawn(orders::timer::run(
            state.clone(),
            Duration::from_millis(state.inner.settings.hold_expiry_poll_ms),
            shutdown_for_timer,
        ));
        let admin = &state.inner.settings;
        if !admin.admin_email.is_empty() {
            let created = state
                .create_admin("admin", &admin.admin_email, &admin.admin_password)
                .await?;
            if let Some(user_id) = created {
                tracing::info!(%user_id, "created the first admin from ADMIN_EMAIL");
            }
        }
        Ok(state)
    }

    /// Creates an admin account for `email` unless one holds it already: its id, or `None`.
    /// What `ADMIN_EMAIL` does at start-up and `booking users create-admin` from a shell.
    pub async fn create_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Option<domain::UserId>> {
        let (username, email, password) = users::bodies::admin(username, email, password)
            .map_err(|refused| anyhow::anyhow!("the admin account is invalid: {refused}"))?;
        match users::create_account(self, username, &email, password, domain::Role::Admin).await {
            Ok(user_id) => Ok(Some(user_id)),
            Err(ApiError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a new password for the account of `email` and ends all its logins; `false` when
    /// no account holds that email. What `booking users reset-password` does.
    pub async fn reset_password(&self, email: &str, password: &str) -> anyhow::Result<bool> {
        let password = users::bodies::new_password(password)
            .map_err(|refused| anyhow::anyhow!("{refused}"))?;
        Ok(users::reset_password(self, email, password).await?)
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn store(&self) -> &AnyStore {
        &self.inner.store
    }

    pub fn trains(&self) -> &Executor<Train> {
        &self.inner.targets.trains
    }

    pub(crate) fn users(&self) -> &Executor<domain::User> {
        &self.inner.targets.users
    }

    pub(crate) fn emails(&self) -> &Executor<domain::EmailClaim> {
        &self.inner.targets.emails
    }

    pub(crate) fn orders(&self) -> &Executor<domain::Orders> {
        &self.inner.targets.orders
    }

    /// How long an order's holds wait for its payment.
    pub(crate) fn payment_window(&self) -> chrono::TimeDelta {
        let secs = i64::try_from(self.inner.settings.payment_window_secs).unwrap_or(86_400);
        chrono::TimeDelta::seconds(secs)
    }

    /// How long before `pay_by` the owner is warned.
    pub(crate) fn hold_warning(&self) -> chrono::TimeDelta {
        let secs = i64::try_from(self.inner.settings.hold_warning_secs).unwrap_or(86_400);
        chrono::TimeDelta::seconds(secs)
    }

    /// The refund policy for cancelled tickets.
    pub(crate) fn refund_policy(&self) -> domain::RefundPolicy {
        let settings = &self.inner.settings;
        domain::RefundPolicy {
            full_more_than: chrono::TimeDelta::hours(settings.refund_full_before_hours.into()),
            partial_at_least: chrono::TimeDelta::hours(settings.refund_partial_before_hours.into()),
            partial_percent: settings.refund_partial_percent,
        }
    }

    /// The webhook secret, when payments are on.
    pub(crate) fn webhook_secret(&self) -> Option<&::payments::webhook::WebhookSecret> {
        self.inner.webhook_secret.as_ref()
    }

    /// Accounts, or 404 when this deployment has no `AUTH_SECRET`.
    pub(crate) fn accounts(&self) -> Result<&users::Accounts, ApiError> {
        self.inner
            .accounts
            .as_ref()
            .ok_or(ApiError::NotConfigured("Accounts are not configured"))
    }

    pub fn ids(&self) -> &Ids {
        &self.inner.ids
    }

    pub fn freshness(&self) -> &Freshness {
        &self.inner.freshness
    }

    /// Base prices of a train registered without any.
    pub(crate) fn default_prices(&self) -> trains::BasePrices {
        self.inner.settings.default_prices
    }

    /// How long a hold lasts, and how many live holds one traveller may have on a train.
    pub(crate) fn hold_limits(&self) -> (chrono::TimeDelta, u32) {
        let settings = &self.inner.settings;
        let secs = i64::try_from(settings.hold_ttl_secs).unwrap_or(86_400);
        (
            chrono::TimeDelta::seconds(secs),
            settings.max_holds_per_user_per_train,
        )
    }

    /// Longest a placement waits for the trains to keep its holds: longer than a read, since
    /// the answer needs it, and within the request's deadline.
    pub(crate) fn placement_timeout(&self) -> Duration {
        let request = Duration::from_millis(self.inner.settings.request_timeout_ms);
        (self.read_timeout() * 3).min(request.mul_f32(0.8))
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
        self.shown(stream, position).await;
        Ok(http_kit::recorded(id, position))
    }

    /// Waits (bounded) until the read models show what was recorded on `stream` at
    /// `position`, if anything was.
    pub(crate) async fn shown(&self, stream: &str, position: Option<Position>) {
        if let Some(position) = position {
            self.freshness()
                .wait(stream, position, self.read_timeout())
                .await;
        }
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

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let settings = &state.inner.settings;
    // The deadline ends the handlers, not the idempotency layer around them: a request it
    // cuts short still records its outcome under its key.
    let router = Router::new()
        .route("/status", get(status))
        .route("/health/ready", get(ready))
        .merge(routes::service(settings.metrics_listen.is_some()))
        .merge(http_kit::openapi::serve(openapi::api()))
        .merge(trains::routes())
        .merge(seats::routes())
        .merge(search::routes())
        .merge(holds::routes())
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(bookings::routes())
        .merge(users::routes())
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(settings.request_timeout_ms),
            routes::deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .with_state(state.clone());
    let in_flight = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight as usize));
    let router = routes::common(router, settings.max_body_bytes)
        .layer(axum::middleware::from_fn(http_kit::metrics::track))
        .layer(axum::middleware::from_fn_with_state(
            in_flight,
            routes::in_flight,
        ));
    routes::outer(router)
}

/// The API's answer to a command that was not decided: a refusal is the caller's to map
/// before this; the rest means the same on every aggregate.
pub(crate) fn command_failure<E>(error: commands::CommandError<E>) -> ApiError
where
    E: std::error::Error + Send + Sync + 'static,
{
    use commands::CommandError;
    match error {
        CommandError::Rejected(refused) => ApiError::internal(refused),
        CommandError::Contention => {
            ApiError::Conflict("Too many concurrent changes, please retry".into())
        }
        CommandError::Unavailable(source) => ApiError::Unavailable(Box::new(source)),
        CommandError::Unreadable(kind) => ApiError::Unreadable(kind),
        error @ (CommandError::Failed(_) | CommandError::Stopped) => ApiError::internal(error),
    }
}

/// Serves until `shutdown`, then finishes in-flight requests and waits for the background
/// tasks (command workers, reactors, the checkpoint follower) to stop.
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

#[utoipa::path(get, path = "/status", tag = "service", responses((status = 200, body = StatusBody)))]
pub(crate) async fn status() -> Json<StatusBody> {
    StatusBody::running("Train booking service is running")
}

/// Ready when the database answers; degraded while a projection or reactor that commands
/// wait for holds quarantined events.
async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    routes::runners_ready(
        state.pool(),
        event_store::quarantine::READ_MODELS,
        &state.inner.runners,
    )
    .await
}
