//! A Redis connection that degrades open: connected lazily, and skipped for a while after a
//! failure so that requests never stall on a Redis that is down. Callers then work without
//! whatever Redis gave them (idempotent replies, a shared rate limit, chat across instances)
//! and a warning says so.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long Redis is left alone after a failure.
const PAUSE: Duration = Duration::from_secs(5);

pub struct RedisLink {
    client: Option<redis::Client>,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    down_until: Mutex<Option<Instant>>,
    /// What the service gives up while Redis is down, for the warning.
    without: &'static str,
}

impl RedisLink {
    /// A link to `url`, or none at all when it is `None`. `without` completes the warning
    /// "redis unavailable; ..." logged on a failure.
    pub fn new(url: Option<&str>, without: &'static str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: url.map(redis::Client::open).transpose()?,
            connection: tokio::sync::OnceCell::new(),
            down_until: Mutex::new(None),
            without,
        })
    }

    /// The client, for connections of another kind (pub/sub).
    pub fn client(&self) -> Option<&redis::Client> {
        self.client.as_ref()
    }

    /// A shared connection, or `None` when Redis is not configured or recently failed.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        let client = self.client.as_ref()?;
        if self
            .down_until
            .lock()
            .ok()
            .and_then(|d| *d)
            .is_some_and(|until| Instant::now() < until)
        {
            return None;
        }
        // No connection retries inside the request: the library's default backoff (six tries,
        // ~10 s) would stall every request while Redis is down. `mark_down` is the backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(0);
        let connected = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(client.clone(), config))
            .await;
        match connected {
            Ok(connection) => Some(connection.clone()),
            Err(e) => {
                self.mark_down(&e);
                None
            }
        }
    }

    /// Records a failure: Redis is skipped for a few seconds.
    pub fn mark_down(&self, error: &redis::RedisError) {
        tracing::warn!(error = %error, "redis unavailable; {}", self.without);
        if let Ok(mut down) = self.down_until.lock() {
            *down = Some(Instant::now() + PAUSE);
        }
    }
}
