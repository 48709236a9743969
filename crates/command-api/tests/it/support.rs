//! A running command API with its projector, over a throwaway database.
//!
//! The event store is PostgreSQL unless `TEST_EVENT_STORE=esdb` puts the stack on the
//! EventStoreDB adapter, talking to the in-repo EventStoreDB double over loopback gRPC (read
//! models and id sequences stay in PostgreSQL either way). `scripts/test` runs this suite both
//! ways.

use command_api::{AppState, Settings};
use esdb_double::EsdbDouble;
use event_store::testing::TestDatabase;
use event_store::testing::proxy::{Proxy, authority};
use event_store::{AnyStore, EventStore, Filter, PgEventStore, RecordedEvent};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The event store as the test and the projector reach it: directly.
    pub store: AnyStore,
    pub pool: sqlx::PgPool,
    settings: Settings,
    /// The event store as the command API reaches it: `store`, or the same store through
    /// `store_proxy`.
    api_store: AnyStore,
    store_proxy: Option<Proxy>,
    shutdown: CancellationToken,
    /// Stops the command API alone (its server, workers and reactors), as a crash would.
    api: CancellationToken,
    /// The EventStoreDB double when the stack runs on that adapter.
    _double: Option<EsdbDouble>,
    // Dropped last: the database goes once everything using it has stopped.
    _database: TestDatabase,
}

/// The secret every test server shares, as instances of one deployment do.
pub const AUTH_SECRET: &str = "a test secret of at least 32 bytes, shared";

/// The Redis tests use; `TEST_REDIS_URL` overrides it.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl TestApp {
    /// A server with default settings and Redis for idempotency.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose settings `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start(adjust, false).await
    }

    /// Like [`Self::spawn_with`], with the command API reaching its event store through a
    /// [`Proxy`] the test can take down ([`Self::store_proxy`]). The projector, the id
    /// sequences and the test's own reads of the log go on reaching their stores directly.
    pub async fn spawn_behind_proxy(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start(adjust, true).await
    }

    async fn start(adjust: impl FnOnce(&mut Settings), behind_proxy: bool) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber_init();
        }
        let database = TestDatabase::create().await;
        let pool = database.pool(20).await;
        let (store, url, double) = event_store(&pool, &database).await;
        let (api_store, store_proxy) = if behind_proxy {
            let proxy = Proxy::start(authority(&url, 5432)).await;
            let proxied = AnyStore::connect(&proxy.url(&url), 5)
                .await
                .expect("connect to the event store through the proxy");
            (proxied, Some(proxy))
        } else {
            (store.clone(), None)
        };
        projector::migrate(&pool)
            .await
            .expect("read-model migrations");

        let mut settings = Settings::with_listen(([127, 0, 0, 1], 0).into());
        settings.redis_url = Some(redis_url());
        settings.redis_key_prefix = format!("test-{}:", uuid::Uuid::now_v7().simple());
        settings.auth_secret = AUTH_SECRET.to_owned();
        adjust(&mut settings);

        let shutdown = CancellationToken::new();
        let api = shutdown.child_token();
        let base = start_api(&settings, &api_store, &pool, &api).await;
        let projector_settings = projector::Settings {
            standby_poll_ms: 100,
            ..projector::Settings::default()
        };
        tokio::spawn(projector::run(
            store.clone(),
            pool.clone(),
            projector_settings,
            shutdown.clone(),
        ));

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            base,
            client,
            store,
            pool,
            settings,
            api_store,
            store_proxy,
            shutdown,
            api,
            _double: double,
            _database: database,
        }
    }

    /// Stops the command API at once, mid-work, as a killed process would stop; the
    /// projector and the stores go on.
    pub fn kill_api(&mut self) {
        self.api.cancel();
    }

    /// Starts the command API again, on a new port, after [`Self::kill_api`].
    pub async fn restart_api(&mut self) {
        self.api = self.shutdown.child_token();
        self.base = start_api(&self.settings, &self.api_store, &self.pool, &self.api).await;
    }

    /// The proxy between the command API and its event store; only behind
    /// [`Self::spawn_behind_proxy`].
    pub fn store_proxy(&self) -> &Proxy {
        self.store_proxy
            .as_ref()
            .expect("a TestApp spawned behind a proxy")
    }

    /// The prefix of every Redis key this server writes.
    pub fn redis_prefix(&self) -> &str {
        &self.settings.redis_key_prefix
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        into_parts(self.client.get(self.url(path)).send().await).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        into_parts(self.client.post(self.url(path)).json(&body).send().await).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        into_parts(self.client.put(self.url(path)).json(&body).send().await).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        into_parts(self.client.delete(self.url(path)).send().await).await
    }

    /// The raw text of a GET, for checks of field order.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// A request to `path`, to be finished by the caller and sent with [`Self::raw`].
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends `request` and keeps the headers too.
    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Registers a train with `seats` seats and returns its id.
    pub async fn train(&self, seats: i64) -> i64 {
        let (status, id) = self.post("/trains", train_body(seats)).await;
        assert_eq!(status, 200, "{id}");
        id.as_i64().expect("an integer id")
    }

    /// Books a seat on `train` for `user` and returns the booking id.
    pub async fn book(&self, train: i64, user: &str) -> i64 {
        let body = json!({"train_id": train, "user_credentials": user});
        let (status, id) = self.post("/bookings", body).await;
        assert_eq!(status, 200, "{id}");
        id.as_i64().expect("an integer id")
    }

    /// Seats left on `train` as `GET /trains/{id}` shows them.
    pub async fn seats_left(&self, train: i64) -> i64 {
        let (status, body) = self.get(&format!("/trains/{train}")).await;
        assert_eq!(status, 200, "{body}");
        body["available_seats"].as_i64().expect("available_seats")
    }

    /// The whole event log, in order.
    pub async fn log(&self) -> Vec<RecordedEvent> {
        let mut all: Vec<RecordedEvent> = Vec::new();
        loop {
            let page = self
                .store
                .read_all(all.last().map(|e| e.position), &Filter::all(), 1000)
                .await
                .expect("read log");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }
}

/// Starts a command API on a free port until `api` is cancelled; its base URL.
async fn start_api(
    settings: &Settings,
    store: &AnyStore,
    pool: &sqlx::PgPool,
    api: &CancellationToken,
) -> String {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let state = AppState::new(
        settings.clone(),
        store.clone(),
        pool.clone(),
        projector::followers(),
        api.clone(),
    )
    .await
    .expect("app state");
    tokio::spawn(command_api::run(listener, state, api.clone()));
    base
}

/// The adapter `TEST_EVENT_STORE` selects: `postgres` (the default) or `esdb`; with its URL.
async fn event_store(
    pool: &sqlx::PgPool,
    database: &TestDatabase,
) -> (AnyStore, String, Option<EsdbDouble>) {
    match std::env::var("TEST_EVENT_STORE").as_deref() {
        Ok("esdb") => {
            let double = EsdbDouble::start()
                .await
                .expect("start the EventStoreDB double");
            let store = AnyStore::connect(&double.url(), 1)
                .await
                .expect("connect to the EventStoreDB double");
            (store, double.url(), Some(double))
        }
        Ok("postgres") | Err(std::env::VarError::NotPresent) => {
            let store = PgEventStore::new(pool.clone()).await.expect("event store");
            (AnyStore::from(store), database.url.clone(), None)
        }
        Ok(other) => panic!("TEST_EVENT_STORE is postgres or esdb, not {other:?}"),
        Err(e) => panic!("TEST_EVENT_STORE: {e}"),
    }
}

/// A response with its headers.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A response header as text; panics if it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("a text header")
    }
}

/// The documented train, with `seats` seats.
pub fn train_body(seats: i64) -> Value {
    json!({
        "route": "Chisinau-Bucuresti",
        "departure_time": "2024-09-25T06:30",
        "arrival_time": "2024-09-26T11:40",
        "available_seats": seats,
    })
}

/// The documented train as `GET` shows it.
pub fn train_view(id: i64, seats: i64) -> Value {
    json!({
        "route": "Chisinau-Bucuresti",
        "departure_time": "2024-09-25T06:30",
        "arrival_time": "2024-09-26T11:40",
        "available_seats": seats,
        "id": id,
    })
}

/// `{"detail": message}`.
pub fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// A 422 body naming one invalid input.
pub fn invalid(loc: &[&str], msg: &str, kind: &str) -> Value {
    json!({ "detail": [{ "loc": loc, "msg": msg, "type": kind }] })
}

/// How many events of `event_type` the log holds for `stream`.
pub fn count(log: &[RecordedEvent], stream: &str, event_type: &str) -> usize {
    log.iter()
        .filter(|e| e.stream == stream && e.event_type == event_type)
        .count()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn into_parts(response: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = response.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn tracing_subscriber_init() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_test_writer()
        .try_init()
}
