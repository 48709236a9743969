//! The per-client rate limit, shared by every gateway instance through Redis.
//!
//! A fixed window per client: one Lua script increments the client's counter and starts its
//! expiry on the first hit, atomically, so instances never race. Over the limit the answer is
//! 429 with `Retry-After` (the seconds until the window ends). Degrades open: without Redis,
//! or while it is down, requests pass and a warning is logged; a rate limit is not worth an
//! outage.

use crate::error::GatewayError;
use crate::{AppState, Settings};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_kit::RedisLink;
use std::net::SocketAddr;
use std::sync::Arc;

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
    trust_forwarded_for: bool,
}

impl RateLimiter {
    pub(crate) fn new(redis: Arc<RedisLink>, settings: &Settings) -> Self {
        Self {
            redis,
            limit: settings.rate_limit,
            window_ms: settings.rate_window_ms,
            prefix: format!("{}rate:", settings.redis_key_prefix),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }

    /// `Some(seconds to wait)` when `client` is over the limit.
    async fn check(&self, client: &str) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let mut connection = self.redis.connection().await?;
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
                None
            }
        }
    }

    /// The client's address: the peer, or the first X-Forwarded-For entry when trusted.
    fn client(&self, request: &Request) -> String {
        let forwarded = self
            .trust_forwarded_for
            .then(|| request.headers().get("x-forwarded-for"))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(|first| first.trim().to_owned())
            .filter(|first| !first.is_empty());
        forwarded.unwrap_or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |peer| peer.0.ip().to_string())
        })
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
