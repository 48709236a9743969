//! The Redis side of `Idempotency-Key`: one record per key, as a small JSON document. Kept
//! apart from the middleware because the record's life (claimed, done, unknown) and the
//! few atomic moves between its states are what the guarantees rest on.

use super::attempt::Handed;
use http_kit::RedisLink;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a claim survives a request that died before finishing, at least.
const IN_FLIGHT_SECS: u64 = 60;
/// How long a claim outlives the request deadline, at least: a request the deadline ended
/// still records its outcome, and a retry must not run before it has.
const PAST_DEADLINE_SECS: u64 = 10;

/// Replaces a key's record only if it is still exactly `ARGV[1]`: Redis runs a script
/// atomically, so of two retries that both found the same record only one moves it on.
const TAKE_OVER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
";

/// Replies kept for `ttl_secs`.
pub struct Replies {
    link: RedisLink,
    ttl_secs: u64,
    in_flight_secs: u64,
}

/// A key's record. `request` is the fingerprint of the request that claimed the key.
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(super) enum Record {
    InFlight {
        request: String,
    },
    Done {
        request: String,
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A command was handed over and no answer came back: it may or may not have landed.
    /// Kept as long as a reply, until a retry learns which.
    Unknown {
        request: String,
        handed: Handed,
    },
}

pub(super) enum Claim {
    First,
    /// The key holds `record`, stored as `raw`.
    Existing {
        raw: String,
        record: Record,
    },
}

impl Replies {
    /// Replies kept for `ttl`; claims outlive `deadline`, the longest a request may run.
    pub fn new(
        redis_url: Option<&str>,
        ttl: Duration,
        deadline: Duration,
    ) -> Result<Self, redis::RedisError> {
        Ok(Self {
            link: RedisLink::new(redis_url, "Idempotency-Key is not enforced for now")?,
            ttl_secs: ttl.as_secs().max(1),
            in_flight_secs: IN_FLIGHT_SECS.max(deadline.as_secs() + PAST_DEADLINE_SECS),
        })
    }

    pub(super) fn link(&self) -> &RedisLink {
        &self.link
    }

    pub(super) async fn claim(
        &self,
        connection: &mut ConnectionManager,
        key: &str,
        request: &str,
    ) -> redis::RedisResult<Claim> {
        let in_flight = encode(&Record::InFlight {
            request: request.to_owned(),
        });
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(self.in_flight_secs));
        let claimed: Option<String> = connection.set_options(key, in_flight, options).await?;
        if claimed.is_some() {
            return Ok(Claim::First);
        }
        let existing: Option<String> = connection.get(key).await?;
        match existing.and_then(|raw| Some((serde_json::from_str(&raw).ok()?, raw))) {
            Some((record, raw)) => Ok(Claim::Existing { raw, record }),
            // Expired in between: treat as ours.
            None => Ok(Claim::First),
        }
    }

    /// Moves the key from `raw` (as [`Self::claim`] found it) to a claim for `record`'s
    /// request; false if something else moved it first.
    pub(super) async fn take_over(
        &self,
        connection: &mut ConnectionManager,
        key: &str,
        raw: &str,
        record: &Record,
    ) -> redis::RedisResult<bool> {
        let moved: i64 = redis::cmd("EVAL")
            .arg(TAKE_OVER)
            .arg(1)
            .arg(key)
            .arg(raw)
            .arg(encode(record))
            .arg(self.in_flight_secs)
            .query_async(connection)
            .await?;
        Ok(moved == 1)
    }

    /// Keeps `record` as the key's answer for the whole reply lifetime.
    pub(super) async fn keep(
        &self,
        connection: &mut ConnectionManager,
        key: &str,
        record: &Record,
    ) {
        let stored: redis::RedisResult<()> =
            connection.set_ex(key, encode(record), self.ttl_secs).await;
        if let Err(e) = stored {
            self.link.mark_down(&e);
        }
    }

    /// Frees the key: nothing started, so a retry may run.
    pub(super) async fn release(&self, connection: &mut ConnectionManager, key: &str) {
        let released: redis::RedisResult<()> = connection.del(key).await;
        if let Err(e) = released {
            self.link.mark_down(&e);
        }
    }
}

fn encode(record: &Record) -> String {
    serde_json::to_string(record).unwrap_or_default()
}
