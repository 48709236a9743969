//! Failed logins, counted per email (by its keyed hash, never the address) over a window of
//! 15 minutes, unknown emails included. Past the limit, a login is refused with 429 before
//! any password is checked. Counted in Redis so every instance sees the same count; while
//! Redis is away, each instance counts on its own, which still bounds guessing.

use http_kit::{ApiError, RedisLink};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long failures count.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

pub(crate) struct Throttle {
    redis: RedisLink,
    prefix: String,
    max_failures: u32,
    /// Failures counted here while Redis is away: key -> (count, window start).
    local: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(redis: RedisLink, prefix: String, max_failures: u32) -> Self {
        Self {
            redis,
            prefix,
            max_failures,
            local: Mutex::default(),
        }
    }

    /// Refuses with 429 once `key` has failed `max_failures` times in the window.
    pub async fn check(&self, key: &str) -> Result<(), ApiError> {
        let (failures, left) = self.failures(key).await;
        if failures < self.max_failures {
            return Ok(());
        }
        Err(ApiError::TooManyRequests {
            detail: "Too many failed logins, try again later",
            retry_after_secs: left.as_secs().max(1),
        })
    }

    /// Counts one failure of `key`.
    pub async fn failed(&self, key: &str) {
        if let Some(mut connection) = self.redis.connection().await {
            let redis_key = format!("{}{key}", self.prefix);
            let counted: redis::RedisResult<()> = redis::pipe()
                .incr(&redis_key, 1)
                .expire(&redis_key, WINDOW.as_secs() as i64)
                .arg("NX")
                .query_async(&mut connection)
                .await;
            match counted {
                Ok(()) => return,
                Err(e) => self.redis.mark_down(&e),
            }
        }
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let entry = local.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Failures of `key` in the current window, and how long the window has left.
    async fn failures(&self, key: &str) -> (u32, Duration) {
        if let Some(mut connection) = self.redis.connection().await {
            let redis_key = format!("{}{key}", self.prefix);
            let read: redis::RedisResult<(Option<u32>, i64)> = redis::pipe()
                .get(&redis_key)
                .ttl(&redis_key)
                .query_async(&mut connection)
                .await;
            match read {
                Ok((count, ttl)) => {
                    let left = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
                    return (count.unwrap_or(0), left);
                }
                Err(e) => self.redis.mark_down(&e),
            }
        }
        let local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        match local.get(key) {
            Some((count, start)) if start.elapsed() < WINDOW => {
                (*count, WINDOW.saturating_sub(start.elapsed()))
            }
            _ => (0, Duration::ZERO),
        }
    }
}
