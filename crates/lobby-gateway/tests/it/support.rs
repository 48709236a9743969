//! A whole stack per test over a throwaway database: projector, command API instances that a
//! test may stop and start again, and gateway instances sharing a per-test Redis prefix.

use event_store::testing::TestDatabase;
use event_store::{AnyStore, PgEventStore};
use futures_util::{SinkExt, StreamExt};
use lobby_gateway::{AppState, Settings};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Stack {
    pub pool: sqlx::PgPool,
    pub store: AnyStore,
    pub apis: Vec<Server>,
    pub gateways: Vec<Server>,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    // Dropped last: the database goes once everything using it has stopped.
    _database: TestDatabase,
}

/// One running server: its address and how to stop it.
pub struct Server {
    pub address: SocketAddr,
    pub state: Option<AppState>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops the server and waits until its socket is closed.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// A member's websocket to `path`.
    pub async fn ws(&self, path: &str) -> Socket {
        let url = format!("ws://{}{path}", self.address);
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        socket
    }
}

/// The Redis tests use; `TEST_REDIS_URL` overrides it.
/// The secret every command API of a stack shares, as instances of one deployment do.
pub const AUTH_SECRET: &str = "a test secret of at least 32 bytes, shared";

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Stack {
    /// One command API and `gateways` gateways, the rate limit off unless `adjust` sets it.
    pub async fn start(gateways: usize, adjust: impl Fn(&mut Settings)) -> Self {
        Self::start_with_api(gateways, |_| {}, adjust).await
    }

    /// Like [`Self::start`], with the first command API's settings adjusted by `adjust_api`.
    pub async fn start_with_api(
        gateways: usize,
        adjust_api: impl FnOnce(&mut command_api::Settings),
        adjust: impl Fn(&mut Settings),
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn")
                .with_test_writer()
                .try_init();
        }
        let database = TestDatabase::create().await;
        let pool = database.pool(30).await;
        let store = AnyStore::from(PgEventStore::new(pool.clone()).await.expect("event store"));
        projector::migrate(&pool)
            .await
            .expect("read-model migrations");
        let shutdown = CancellationToken::new();
        let projector = projector::Settings {
            standby_poll_ms: 100,
            ..projector::Settings::default()
        };
        tokio::spawn(projector::run(
            store.clone(),
            pool.clone(),
            projector,
            shutdown.clone(),
        ));
        let client = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("client");
        let mut stack = Self {
            pool,
            store,
            apis: Vec::new(),
            gateways: Vec::new(),
            client,
            shutdown,
            _database: database,
        };
        let api = stack
            .start_api_with(([127, 0, 0, 1], 0).into(), adjust_api)
            .await;
        stack.apis.push(api);
        let prefix = format!("test-{}:", uuid::Uuid::now_v7().simple());
        let upstreams = vec![stack.apis[0].url("")];
        for _ in 0..gateways {
            let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), upstreams.clone());
            settings.redis_url = Some(redis_url());
            settings.redis_key_prefix.clone_from(&prefix);
            settings.rate_limit = 0;
            adjust(&mut settings);
            let gateway = stack.start_gateway(settings).await;
            stack.gateways.push(gateway);
        }
        stack
    }

    /// A command API on `address` (port 0 for any).
    pub async fn start_api(&self, address: SocketAddr) -> Server {
        self.start_api_with(address, |_| {}).await
    }

    /// A command API on `address` whose settings `adjust` may change first.
    pub async fn start_api_with(
        &self,
        address: SocketAddr,
        adjust: impl FnOnce(&mut command_api::Settings),
    ) -> Server {
        let shutdown = self.shutdown.child_token();
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut settings = command_api::Settings::with_listen(address);
        settings.auth_secret = AUTH_SECRET.to_owned();
        adjust(&mut settings);
        let state = command_api::AppState::new(
            settings,
            self.store.clone(),
            self.pool.clone(),
            projector::followers(),
            shutdown.clone(),
        )
        .await
        .expect("command API state");
        let task = tokio::spawn(command_api::run(listener, state, shutdown.clone()));
        Server {
            address,
            state: None,
            shutdown,
            task: Some(task),
        }
    }

    /// A gateway with `settings`, once it follows the log and the chat channel.
    pub async fn start_gateway(&self, settings: Settings) -> Server {
        let server = self.spawn_gateway(settings).await;
        let ready = server.state.clone().expect("gateway state");
        eventually(move || {
            let ready = ready.clone();
            async move { ready.is_ready() }
        })
        .await;
        server
    }

    /// A gateway with `settings`, as soon as it listens.
    pub async fn spawn_gateway(&self, settings: Settings) -> Server {
        let shutdown = self.shutdown.child_token();
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let state = AppState::new(
            settings,
            self.store.clone(),
            self.pool.clone(),
            projector::followers(),
            shutdown.clone(),
        )
        .await
        .expect("gateway state");
        let task = tokio::spawn(lobby_gateway::run(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        Server {
            address,
            state: Some(state),
            shutdown,
            task: Some(task),
        }
    }

    pub fn gateway(&self) -> &Server {
        &self.gateways[0]
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
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

    pub async fn get(&self, url: String) -> (u16, Value) {
        self.send(self.client.get(url)).await.parts()
    }

    pub async fn post(&self, url: String, body: Value) -> (u16, Value) {
        self.send(self.client.post(url).json(&body)).await.parts()
    }

    pub async fn delete(&self, url: String) -> (u16, Value) {
        self.send(self.client.delete(url)).await.parts()
    }

    /// A train with `seats` seats, through the gateway's `/ts`.
    pub async fn train(&self, seats: i64) -> i64 {
        let body = json!({
            "route": "Chisinau-Bucuresti",
            "departure_time": "2024-09-25T06:30",
            "arrival_time": "2024-09-26T11:40",
            "available_seats": seats,
        });
        let (status, id) = self.post(self.gateway().url("/ts/trains"), body).await;
        assert_eq!(status, 200, "{id}");
        id.as_i64().expect("an integer id")
    }

    /// A lobby for `train`, through the gateway.
    pub async fn lobby(&self, train: i64) -> i64 {
        let body = json!({ "train_id": train });
        let (status, id) = self.post(self.gateway().url("/lobbies"), body).await;
        assert_eq!(status, 200, "{id}");
        id.as_i64().expect("an integer id")
    }

    /// Books a seat through `POST /start-booking` and returns the booking id.
    pub async fn start_booking(&self, train: i64, user: &str) -> i64 {
        let body = json!({ "train_id": train, "user_credentials": user });
        let (status, reply) = self.post(self.gateway().url("/start-booking"), body).await;
        assert_eq!(status, 200, "{reply}");
        reply["booking_id"].as_i64().expect("a booking id")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response with its headers.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn parts(self) -> (u16, Value) {
        (self.status, self.body)
    }
}

/// `{"detail": message}`.
pub fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next JSON message on `socket`; fails on a close or after [`PATIENCE`].
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a readable message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// The next message of `kind`, skipping others.
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next_json(socket).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// Every message up to and including the `booking_confirmed` of `booking`.
pub async fn until_confirmed(socket: &mut Socket, booking: i64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let message = next_json(socket).await;
        let done = message["type"] == "booking_confirmed" && message["booking_id"] == booking;
        seen.push(message);
        if done {
            return seen;
        }
    }
}

/// The close code the server ends `socket` with.
pub async fn close_code(socket: &mut Socket) -> u16 {
    close_frame(socket).await.0
}

/// The code and reason of the close frame `socket` gets (1005 and no reason for a close frame
/// without a body).
pub async fn close_frame(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("no close frame: {e}"),
            None => panic!("the socket ended without a close frame"),
        }
    }
}

/// Sends a text frame.
pub async fn say(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Text(text.into()))
        .await
        .expect("message sent");
}

/// A member of `lobby` on the stack's gateway number `gateway`, past its welcome.
pub async fn member(stack: &Stack, gateway: usize, lobby: i64) -> Socket {
    let mut socket = stack.gateways[gateway]
        .ws(&format!("/lobbies/ws/{lobby}"))
        .await;
    assert_eq!(next_json(&mut socket).await["type"], "welcome");
    socket
}
