//! `Idempotency-Key` on POST: a retried request gets the first response back and changes
//! nothing. Replies are kept in Redis for a day, keyed by path and key, beside a SHA-256
//! fingerprint of the request (method, path, caller and body), never the body itself; with
//! accounts on, an HMAC under a key derived from `AUTH_SECRET`, so that a traveller's name in a
//! body cannot be guessed back from it. A body
//! refused as invalid (422) keeps nothing: nothing started, so a retry may run.
//!
//! An outcome that is not known is never forgotten. The handler of a keyed request gets an
//! [`Attempt`]: the cause to execute its command with (so its events carry it, and a stream
//! never decides it twice) and a slot where it notes the stream and the id it will answer
//! with before it hands the command over. A 5xx after that (the event store went away
//! mid-append, or the deadline cut the request) keeps the key as `Unknown` for as long as a
//! reply. A retry then looks the cause up in that stream: found, it gets the original answer;
//! missing while the store answers, the request runs again with the same cause, stream and
//! id, so that even a run of the first attempt still queued somewhere and this one are decided
//! once; store unreachable, 409 "Outcome unknown, retry later". A 5xx before anything was
//! handed over frees the key, as nothing started.
//!
//! The request runs to its end in a task of its own, inside this layer and outside the
//! deadline: neither a deadline nor a client that goes away can leave a key claimed but
//! unrecorded, free to run again once the claim expires.
//!
//! Degrades open: when Redis is unreachable (or not configured) requests run without the
//! guarantee and a warning is logged, so bookings keep working while Redis is down. A claim
//! marks a key as in flight first, so two concurrent retries cannot both book.

mod attempt;
mod replies;

use crate::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use event_store::{EventStore, Position};
use http_kit::{ApiError, FieldError, detail_response};
use redis::aio::ConnectionManager;
use serde_json::json;
use std::time::Duration;

pub(crate) use attempt::Attempt;
use attempt::{Handed, cause};
pub use replies::Replies;
use replies::{Claim, Record};

const HEADER: &str = "idempotency-key";
/// Response headers worth replaying.
const REPLAYED_HEADERS: [&str; 2] = ["content-type", "x-event-position"];

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
    let Some(mut connection) = replies.link().connection().await else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    // Keys are the caller's own: two callers' keys never meet. A request the handler will
    // refuse as unauthenticated keys under nobody, and is refused again on a retry.
    let caller = match auth::Access::from_request_parts(&mut parts, &state).await {
        Ok(access) => {
            // The handler takes it from here rather than verifying the token again.
            parts.extensions.insert(access);
            access
                .actor()
                .map(|user| user.to_string())
                .unwrap_or_default()
        }
        Err(_) => String::new(),
    };
    // Read here, outside the deadline layer, so bounded here by the same deadline.
    let settings = &state.inner.settings;
    let deadline = Duration::from_millis(settings.request_timeout_ms);
    let bytes = match tokio::time::timeout(deadline, to_bytes(body, settings.max_body_bytes)).await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return ApiError::TooLarge.into_response(),
        Err(_) => return ApiError::Timeout.into_response(),
    };
    let fingerprint = fingerprint(&state, &parts.method, parts.uri.path(), &caller, &bytes);
    let prefix = &settings.redis_key_prefix;
    let redis_key = format!("{prefix}idempotency:{}:{caller}:{key}", parts.uri.path());
    let mut request = Request::from_parts(parts, Body::from(bytes));

    let attempt = match replies
        .claim(&mut connection, &redis_key, &fingerprint)
        .await
    {
        Ok(Claim::First) => Attempt::first(),
        Ok(Claim::Existing { raw, record }) => {
            let key = Key {
                state: &state,
                connection: &mut connection,
                redis_key: &redis_key,
                fingerprint: &fingerprint,
            };
            match key.existing(raw, record).await {
                Step::Answer(response) => return response,
                Step::Run(attempt) => attempt,
            }
        }
        Err(e) => {
            replies.link().mark_down(&e);
            return next.run(request).await;
        }
    };

    request.extensions_mut().insert(attempt.clone());
    let finish = Finish {
        state: state.clone(),
        connection,
        redis_key,
        fingerprint,
        attempt,
    };
    // To its end even if the client goes away: the outcome is recorded either way.
    let running = state.inner.tracker.spawn(async move {
        let response = next.run(request).await;
        finish.record(response).await
    });
    running
        .await
        .unwrap_or_else(|e| ApiError::internal(e).into_response())
}

/// What a claim that found a record comes to.
enum Step {
    /// An answer without running the request.
    Answer(Response),
    /// Run the request, as this attempt.
    Run(Attempt),
}

/// One key of one request, while its claim is decided.
struct Key<'a> {
    state: &'a AppState,
    connection: &'a mut ConnectionManager,
    redis_key: &'a str,
    fingerprint: &'a str,
}

impl Key<'_> {
    async fn existing(self, raw: String, record: Record) -> Step {
        match record {
            Record::InFlight { .. } => Step::Answer(in_progress()),
            Record::Done { request, .. } | Record::Unknown { request, .. }
                if request != self.fingerprint =>
            {
                Step::Answer(
                    ApiError::invalid(FieldError::new(
                        &["header", "Idempotency-Key"],
                        "Idempotency-Key was already used with a different request body",
                        "value_error",
                    ))
                    .into_response(),
                )
            }
            Record::Done {
                status,
                headers,
                body,
                ..
            } => Step::Answer(replay(status, &headers, body)),
            Record::Unknown { handed, .. } => self.settle(raw, handed).await,
        }
    }

    /// Learns the outcome of a request whose command was `handed` over with no answer.
    async fn settle(self, raw: String, handed: Handed) -> Step {
        let state = self.state;
        let recorded = match state.store().read_stream(&handed.stream).await {
            Ok(events) => cause(handed.cause)
                .last_recorded(&events)
                .map(|event| event.position),
            Err(e) => {
                tracing::warn!(error = %e, "the outcome of an idempotent request is still unknown");
                return Step::Answer(detail_response(
                    StatusCode::CONFLICT,
                    json!("Outcome unknown, retry later"),
                    Some(1),
                ));
            }
        };
        let replies = &state.inner.replies;
        let Some(position) = recorded else {
            // It never landed, and the store says so: run it now. The same cause, stream and
            // id make it one with a run of the first attempt that may still be on its way.
            let in_flight = Record::InFlight {
                request: self.fingerprint.to_owned(),
            };
            return match replies
                .take_over(self.connection, self.redis_key, &raw, &in_flight)
                .await
            {
                Ok(true) => Step::Run(Attempt::again(handed)),
                // Another retry took it over first.
                Ok(false) => Step::Answer(in_progress()),
                Err(e) => {
                    replies.link().mark_down(&e);
                    Step::Run(Attempt::again(handed))
                }
            };
        };
        let (headers, body) = landed(handed.answer, position);
        let done = Record::Done {
            request: self.fingerprint.to_owned(),
            status: StatusCode::OK.as_u16(),
            headers: headers.clone(),
            body: body.clone(),
        };
        replies.keep(self.connection, self.redis_key, &done).await;
        // The first answer would have come once the read models showed it; so does this one.
        state
            .freshness()
            .wait(&handed.stream, position, state.read_timeout())
            .await;
        Step::Answer(replay(StatusCode::OK.as_u16(), &headers, body))
    }
}

fn in_progress() -> Response {
    ApiError::Conflict("A request with this Idempotency-Key is still in progress".into())
        .into_response()
}

/// The headers and body the first run would have answered with, had its answer come back.
fn landed(answer: i64, position: Position) -> (Vec<(String, String)>, String) {
    let response = http_kit::recorded(answer, Some(position));
    (kept_headers(response.headers()), answer.to_string())
}

/// Records what a request came to, once it has run.
struct Finish {
    state: AppState,
    connection: ConnectionManager,
    redis_key: String,
    fingerprint: String,
    attempt: Attempt,
}

impl Finish {
    async fn record(mut self, response: Response) -> Response {
        let replies = &self.state.inner.replies;
        let (parts, body) = response.into_parts();
        let Ok(body) = to_bytes(body, usize::MAX).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let status = parts.status;
        let record = if status.is_server_error() {
            // Handed over, the command may have landed: keep the key until a retry knows.
            // Otherwise nothing started: let a retry run again.
            self.attempt.handed().map(|handed| Record::Unknown {
                request: self.fingerprint,
                handed,
            })
        } else if status == StatusCode::UNPROCESSABLE_ENTITY {
            None
        } else {
            Some(Record::Done {
                request: self.fingerprint,
                status: status.as_u16(),
                headers: kept_headers(&parts.headers),
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        match record {
            Some(record) => {
                replies
                    .keep(&mut self.connection, &self.redis_key, &record)
                    .await;
            }
            None => replies.release(&mut self.connection, &self.redis_key).await,
        }
        Response::from_parts(parts, Body::from(body))
    }
}

/// What a retry must repeat exactly for its key to mean the same request.
fn fingerprint(state: &AppState, method: &Method, path: &str, caller: &str, body: &[u8]) -> String {
    let mut request = Vec::with_capacity(body.len() + 64);
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        caller.as_bytes(),
    ] {
        // Length-prefixed, so that no two different requests run together the same way.
        request.extend_from_slice(&(part.len() as u64).to_be_bytes());
        request.extend_from_slice(part);
    }
    request.extend_from_slice(body);
    match state.accounts() {
        Ok(accounts) => accounts.vault.fingerprint(&request),
        // Without accounts names are in the clear in the log too; a plain hash will do.
        Err(_) => {
            use sha2::{Digest, Sha256};
            Sha256::digest(&request)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect()
        }
    }
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
