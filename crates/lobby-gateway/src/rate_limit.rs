//! The per-client rate limit, shared by every gateway instance through Redis.
//!
//! A fixed window per client: one Lua script increments the client's counter and starts its
//! expiry on the first hit, atomically, so instances never race. Over the limit the answer is
//! 429 with `Retry-After` (the seconds until the window ends). Without Redis, or while it is
//! down, each instance counts the same windows on its own: a client may then get the limit
//! once per instance, but never an unlimited run. Clients are told apart by
//! [`TrustedProxies`](crate::TrustedProxies).
//!
//! The local windows are written here rather than taken from a rate-limit crate so that they
//! count exactly as the Redis script does (fixed windows, the same `Retry-After`): the two
//! take turns as Redis comes and goes.

use crate::error::GatewayError;
use crate::{AppState, Settings};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_kit::RedisLink;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most clients the local windows remember; past it, the ended windows are forgotten first,
/// then all (a flood of new addresses resets the count rather than the memory growing).
const MAX_LOCAL_CLIENTS: usize = 100_000;

const WINDOW_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

pub(crate) struct RateLimiter {
    redis: Arc<RedisLink>,
    limit: u32,
    window_ms: u64,
    prefix: String,
    proxies: crate::TrustedProxies,
    local: LocalWindows,
}

impl RateLimiter {
    pub(crate) fn new(redis: Arc<RedisLink>, settings: &Settings) -> Self {
        Self {
            redis,
            limit: settings.rate_limit,
            window_ms: settings.rate_window_ms,
            prefix: format!("{}rate:", settings.redis_key_prefix),
            proxies: settings.trusted_proxies.clone(),
            local: LocalWindows::default(),
        }
    }

    /// `Some(seconds to wait)` when `client` is over the limit.
    async fn check(&self, client: &str) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let window = Duration::from_millis(self.window_ms);
        let Some(mut connection) = self.redis.connection().await else {
            return self.local.hit(client, self.limit, window, Instant::now());
        };
        let counted: redis::RedisResult<(u64, u64)> = redis::cmd("EVAL")
            .arg(WINDOW_SCRIPT)
            .arg(1)
            .arg(format!("{}{client}", self.prefix))
            .arg(self.window_ms)
            .query_async(&mut connection)
            .await;
        match counted {
            Ok((count, ttl_ms)) if count > u64::from(self.limit) => Some(ttl_ms.div_ceil(1000)),
            Ok(_) => None,
            Err(e) => {
                self.redis.mark_down(&e);
                self.local.hit(client, self.limit, window, Instant::now())
            }
        }
    }

    /// Who sent `request`: see [`TrustedProxies::client`](crate::TrustedProxies::client).
    fn client(&self, request: &Request) -> String {
        let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
            return "unknown".to_owned();
        };
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        self.proxies.client(forwarded, peer.ip())
    }
}

/// Fixed windows counted in this instance: the fallback while Redis is away.
#[derive(Default)]
struct LocalWindows {
    /// Each client's window: when it started and how many requests it has seen.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LocalWindows {
    /// Counts a request of `client` at `now`: `Some(seconds to wait)` when over `limit`.
    fn hit(&self, client: &str, limit: u32, window: Duration, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= MAX_LOCAL_CLIENTS && !windows.contains_key(client) {
            windows.retain(|_, (started, _)| now.duration_since(*started) < window);
            if windows.len() >= MAX_LOCAL_CLIENTS {
                windows.clear();
            }
        }
        let (started, count) = windows.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(*started) >= window {
            (*started, *count) = (now, 0);
        }
        *count = count.saturating_add(1);
        let left = window.saturating_sub(now.duration_since(*started));
        (*count > limit).then(|| u64::try_from(left.as_millis().div_ceil(1000)).unwrap_or(u64::MAX))
    }
}

/// The middleware. Health, status and metrics checks are never limited.
pub(crate) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/status" || path == "/metrics" || path.starts_with("/health/") {
        return next.run(request).await;
    }
    let limiter = &state.inner.limiter;
    match limiter.check(&limiter.client(&request)).await {
        Some(retry_after_secs) => GatewayError::RateLimited { retry_after_secs }.into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_window_counts_to_the_limit_then_refuses_until_it_ends() {
        let windows = LocalWindows::default();
        let window = Duration::from_secs(10);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(windows.hit("a", 3, window, start), None);
        }
        let later = start + Duration::from_millis(2_500);
        assert_eq!(windows.hit("a", 3, window, later), Some(8));
        // Another client has a window of its own.
        assert_eq!(windows.hit("b", 3, window, later), None);
        // A new window starts once the old one ends.
        assert_eq!(windows.hit("a", 3, window, start + window), None);
    }
}
