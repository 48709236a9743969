//! `Idempotency-Key` on POST: a retried request gets the first response back and changes
//! nothing. Replies are kept in Redis for a day, keyed by path and key, beside a SHA-256
//! fingerprint of the request (method, path, caller and body), never the body itself. A body
//! refused as invalid (422) keeps nothing: nothing started, so a retry may run.
//!
//! Degrades open: when Redis is unreachable (or not configured) requests run without the
//! guarantee and a warning is logged, so bookings keep working while Redis is down. A claim
//! marks a key as in flight first, so two concurrent retries cannot both book.

use crate::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_kit::{ApiError, FieldError, RedisLink};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const HEADER: &str = "idempotency-key";
/// Response headers worth replaying.
const REPLAYED_HEADERS: [&str; 2] = ["content-type", "x-event-position"];
/// How long a claim survives a request that died before finishing.
const IN_FLIGHT_SECS: u64 = 60;

/// The Redis side: replies kept for `ttl_secs`.
pub struct Replies {
    link: RedisLink,
    ttl_secs: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        request: String,
    },
    Done {
        request: String,
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

enum Claim {
    First,
    Existing(Record),
}

impl Replies {
    pub fn new(redis_url: Option<&str>, ttl: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            link: RedisLink::new(redis_url, "Idempotency-Key is not enforced for now")?,
            ttl_secs: ttl.as_secs().max(1),
        })
    }

    async fn claim(
        &self,
        connection: &mut ConnectionManager,
        key: &str,
        request: &str,
    ) -> redis::RedisResult<Claim> {
        let in_flight = serde_json::to_string(&Record::InFlight {
            request: request.to_owned(),
        })
        .unwrap_or_default();
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(IN_FLIGHT_SECS));
        let claimed: Option<String> = connection.set_options(key, in_flight, options).await?;
        if claimed.is_some() {
            return Ok(Claim::First);
        }
        let existing: Option<String> = connection.get(key).await?;
        match existing.and_then(|raw| serde_json::from_str(&raw).ok()) {
            Some(record) => Ok(Claim::Existing(record)),
            // Expired in between: treat as ours.
            None => Ok(Claim::First),
        }
    }
}

/// The middleware.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match raw_key.to_str() {
        // What the document says: `^[!-~]{1,255}$`; `to_str` alone lets spaces and tabs in.
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            key.to_owned()
        }
        _ => {
            return ApiError::invalid(FieldError::new(
                &["header", "Idempotency-Key"],
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                "value_error",
            ))
            .into_response();
        }
    };
    let replies = &state.inner.replies;
    let Some(mut connection) = replies.link.connection().await else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, state.inner.settings.max_body_bytes).await else {
        return ApiError::TooLarge.into_response();
    };
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), CALLER, &bytes);
    let prefix = &state.inner.settings.redis_key_prefix;
    let redis_key = format!("{prefix}idempotency:{}:{key}", parts.uri.path());

    match replies
        .claim(&mut connection, &redis_key, &fingerprint)
        .await
    {
        Ok(Claim::First) => {}
        Ok(Claim::Existing(Record::InFlight { .. })) => {
            return ApiError::Conflict(
                "A request with this Idempotency-Key is still in progress".into(),
            )
            .into_response();
        }
        Ok(Claim::Existing(Record::Done {
            request,
            status,
            headers,
            body,
        })) => {
            if request != fingerprint {
                return ApiError::invalid(FieldError::new(
                    &["header", "Idempotency-Key"],
                    "Idempotency-Key was already used with a different request body",
                    "value_error",
                ))
                .into_response();
            }
            return replay(status, &headers, body);
        }
        Err(e) => {
            replies.link.mark_down(&e);
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if parts.status.is_server_error() || parts.status == StatusCode::UNPROCESSABLE_ENTITY {
        // Nothing was decided for sure, or nothing started: let a retry run again.
        let released: redis::RedisResult<()> = connection.del(&redis_key).await;
        if let Err(e) = released {
            replies.link.mark_down(&e);
        }
    } else {
        let record = Record::Done {
            request: fingerprint,
            status: parts.status.as_u16(),
            headers: kept_headers(&parts.headers),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let stored: redis::RedisResult<()> = connection
            .set_ex(
                &redis_key,
                serde_json::to_string(&record).unwrap_or_default(),
                replies.ttl_secs,
            )
            .await;
        if let Err(e) = stored {
            replies.link.mark_down(&e);
        }
    }
    Response::from_parts(parts, Body::from(body))
}

/// Who sends requests, as far as idempotency goes: nobody until accounts exist, then the
/// token's subject, so that two callers' keys never meet.
const CALLER: &str = "";

/// What a retry must repeat exactly for its key to mean the same request.
fn fingerprint(method: &Method, path: &str, caller: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        caller.as_bytes(),
    ] {
        // Length-prefixed, so that no two different requests run together the same way.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(body);
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            Some((
                name.to_string(),
                headers.get(*name)?.to_str().ok()?.to_owned(),
            ))
        })
        .collect()
}

fn replay(status: u16, headers: &[(String, String)], body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            name.parse::<axum::http::HeaderName>(),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
