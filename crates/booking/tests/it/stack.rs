//! Real `booking` processes for the process tests: a clean environment pointed at per-test
//! databases (or proxies in front of them), SIGKILLed when dropped so a failing test leaves
//! nothing running, and their last log lines kept to say why one died early; and the HTTP and
//! waiting helpers the tests share.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A `booking` command with only the settings given here and by the caller: no `.env`, no
/// inherited variables. The warehouse is off unless a test turns it on, so nothing publishes
/// to the shared broker's default names; pools are small, since tests running side by side
/// share one PostgreSQL server and its connection limit. The seed paths are open (`AUTH=off`):
/// these tests are about processes and faults, not tokens; a test that wants accounts sets
/// `AUTH_SECRET` (and `AUTH`) itself.
pub fn booking(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_booking"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("AUTH", "off")
        .env("DATABASE_MAX_CONNECTIONS", "8")
        .env("WAREHOUSE", "false")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// A local address nothing listens on right now, for a process to bind. (The port is free
/// when chosen; a service cannot report the one it got from port 0 before it is configured.)
pub fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A running process, SIGKILLed and reaped when dropped.
pub struct Process {
    child: Child,
    /// The last lines it logged (without `TEST_LOG`), to say why it died if it does.
    last_words: Arc<Mutex<VecDeque<String>>>,
}

/// Lines of a process's log kept for a failure message.
const LAST_WORDS: usize = 20;

impl Process {
    /// Starts `command`; its logs go to the test's stderr with `TEST_LOG=1`; otherwise only
    /// its last lines are kept, for the message if it exits before it is ready.
    pub fn spawn(command: &mut Command) -> Self {
        let logs = if std::env::var_os("TEST_LOG").is_some() {
            command.env("RUST_LOG", "info,sqlx=warn,lapin=warn");
            Stdio::inherit()
        } else {
            Stdio::piped()
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(logs)
            .spawn()
            .expect("start booking");
        let last_words = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let kept = Arc::clone(&last_words);
            // Drained to its end, so the process never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                    if kept.len() == LAST_WORDS {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        Self { child, last_words }
    }

    /// Waits until `base`'s `/health/ready` answers 200. Fails at once if the process exits
    /// first (a refused setting, an unreachable server), with its last lines.
    pub async fn serving(&mut self, http: &Http, base: &str) {
        if let Err(died) = self.ready(http, base).await {
            panic!("{died}");
        }
    }

    /// Waits until `base`'s `/health/ready` answers 200; if the process exits first, why, with
    /// its last lines.
    pub async fn ready(&mut self, http: &Http, base: &str) -> Result<(), String> {
        let url = format!("{base}/health/ready");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Its last lines may still be on their way through the pipe.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let said = self
                    .last_words
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(format!(
                    "booking exited before {base} was ready: {status}\n{said}"
                ));
            }
            let ready = http.0.get(&url).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{base} not ready in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flushing, as when the machine loses the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `booking all`: the command API and the gateway on addresses of their own.
pub struct Stack {
    pub api: String,
    pub gateway: String,
    pub http: Http,
    _process: Process,
}

impl Stack {
    /// Starts `command` as `booking all` and waits until both servers are ready.
    pub async fn all(mut command: Command) -> Self {
        let (api, gateway) = (free_address(), free_address());
        command
            .arg("all")
            .env("COMMAND_API_LISTEN", api.to_string())
            .env("COMMAND_API_URLS", format!("http://{api}"))
            .env("GATEWAY_LISTEN", gateway.to_string())
            .env("GATEWAY_RATE_LIMIT", "0");
        let (api, gateway) = (format!("http://{api}"), format!("http://{gateway}"));
        let mut process = Process::spawn(&mut command);
        let http = Http::new();
        process.serving(&http, &api).await;
        process.serving(&http, &gateway).await;
        Self {
            api,
            gateway,
            http,
            _process: process,
        }
    }

    /// A train with `seats` seats, registered through the command API.
    pub async fn train(&self, seats: i64) -> i64 {
        let body = json!({
            "route": "Chisinau-Bucuresti",
            "departure_time": "2024-09-25T06:30",
            "arrival_time": "2024-09-26T11:40",
            "available_seats": seats,
        });
        let (status, id) = self.http.post(&format!("{}/trains", self.api), &body).await;
        assert_eq!(status, 200, "{id}");
        id.as_i64().expect("an integer id")
    }
}

/// A JSON client with a deadline on every request, so a hanging server fails the test.
#[derive(Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self(client)
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        parts(self.0.get(url).send().await).await
    }

    pub async fn post(&self, url: &str, body: &Value) -> (u16, Value) {
        parts(self.0.post(url).json(body).send().await).await
    }
}

async fn parts(response: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = response.expect("an answer in time");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Redis tests use; `TEST_REDIS_URL` overrides it.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The broker tests use; `TEST_AMQP_URL` overrides it.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Events in the warehouse's ledger.
pub async fn loaded(warehouse: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM warehouse.loaded_events")
        .fetch_one(warehouse)
        .await
        .unwrap_or_default()
}
