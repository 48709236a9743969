//! The command API instances behind the gateway: `/ts/...` is forwarded to them with the
//! prefix stripped, and start-booking calls them too.
//!
//! Requests go round-robin over the instances whose breaker lets them through. A request
//! that could not even connect is tried on the next instance (it cannot have had an effect);
//! anything else is answered as it is, never retried, because a POST may already have booked.
//! The upstream's status, headers and body pass through untouched; the gateway's own refusals
//! (413, 503, 504) use the same `{"detail": ...}` shape.

use crate::breaker::Breaker;
use crate::error::GatewayError;
use crate::{AppState, Settings};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_kit::ApiError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Headers that describe one hop's connection, not the message; never forwarded.
const HOP_BY_HOP: [header::HeaderName; 8] = [
    header::CONNECTION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

pub(crate) struct Upstreams {
    client: reqwest::Client,
    targets: Vec<Target>,
    next: AtomicUsize,
}

struct Target {
    base: String,
    breaker: Breaker,
}

/// An upstream's answer, read whole (the timeout covers the body too).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        // Built bare, so the upstream's own Content-Type is the only one.
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if !HOP_BY_HOP.contains(name) && name != "keep-alive" {
                headers.append(name, value.clone());
            }
        }
        response
    }
}

impl Upstreams {
    pub(crate) fn new(settings: &Settings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.upstream_timeout_ms))
            .connect_timeout(Duration::from_millis(
                settings.upstream_timeout_ms.min(2_000),
            ))
            .build()?;
        let cooldown = Duration::from_millis(settings.breaker_cooldown_ms);
        let targets = settings
            .upstreams
            .iter()
            .map(|base| Target {
                base: base.trim_end_matches('/').to_owned(),
                breaker: Breaker::new(settings.breaker_failures, cooldown),
            })
            .collect();
        Ok(Self {
            client,
            targets,
            next: AtomicUsize::new(0),
        })
    }

    /// Sends one request to the next healthy instance. 503 when every breaker is open or no
    /// instance could be reached, 504 when the chosen one did not answer in time.
    #[tracing::instrument(skip_all, fields(http.method = %method, upstream.path = path_and_query))]
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, GatewayError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.targets.len();
        for offset in 0..count {
            let target = &self.targets[(start + offset) % count];
            if !target.breaker.allow(Instant::now()) {
                continue;
            }
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path_and_query}", target.base))
                .body(body.clone());
            for (name, value) in headers {
                if !HOP_BY_HOP.contains(name) && name != "keep-alive" {
                    request = request.header(name, value);
                }
            }
            match read(request).await {
                Ok(answer) => {
                    // A 502 or 504 from the instance means it cannot serve now. A 503 is
                    // its answer about what every instance shares (the database) or about one
                    // aggregate (an event it cannot read yet): another instance would answer
                    // the same, so it does not count against this one.
                    if matches!(
                        answer.status,
                        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
                    ) {
                        target.breaker.failed(Instant::now());
                    } else {
                        target.breaker.succeeded();
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    target.breaker.failed(Instant::now());
                    if e.is_timeout() {
                        tracing::warn!(upstream = %target.base, "command API timed out");
                        return Err(GatewayError::UpstreamTimeout);
                    }
                    if !e.is_connect() {
                        return Err(ApiError::Unavailable(Box::new(e)).into());
                    }
                    tracing::warn!(upstream = %target.base, error = %e, "command API unreachable; trying the next");
                }
            }
        }
        Err(ApiError::Unavailable("no command API instance is available".into()).into())
    }
}

async fn read(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `/ts/...`: forwarded with the prefix stripped, query string kept.
pub(crate) async fn forward(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Answer, GatewayError> {
    let body = http_kit::input::body_bytes(body)?;
    // `/ts/...` loses its prefix; the account paths go as they are.
    let path = match uri.path().strip_prefix("/ts") {
        Some("") => "/",
        Some(path) => path,
        None => uri.path(),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    state
        .inner
        .upstreams
        .send(method, &path_and_query, &headers, body)
        .await
}
