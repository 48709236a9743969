//! The order crash test's HTTP client: a caller of the command API that sends a request again
//! when it got no answer (the process died) or one that says to (502, 503, 504, a contended
//! stream, or a read model that does not show yet what was just answered), as a real client
//! would.

use crate::stack::PATIENCE;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// A signed-in caller of the command API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    retries: Arc<AtomicU64>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Whether the request was sent more than once.
    pub retried: bool,
}

impl Client {
    /// A caller with `token` (none: anonymous); `retries` counts the requests it sends again.
    pub fn new(
        http: &reqwest::Client,
        base: &str,
        token: Option<String>,
        retries: &Arc<AtomicU64>,
    ) -> Self {
        Self {
            http: http.clone(),
            base: base.to_owned(),
            token,
            retries: Arc::clone(retries),
        }
    }

    /// Sends the request until it gets an answer a client acts on.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let deadline = Instant::now() + PATIENCE;
        let mut retried = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Ok(response) = request.send().await {
                let status = response.status().as_u16();
                // A body cut off by the kill is no answer either.
                if let Ok(text) = response.text().await {
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if !again(status, &body) {
                        return Reply {
                            status,
                            body,
                            retried,
                        };
                    }
                }
            }
            retried = true;
            self.retries.fetch_add(1, Ordering::Relaxed);
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer in time"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let reply = self.send(Method::GET, path, None).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.body
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&body)).await
    }
}

/// Whether a client sends the request again: the service was down, or too busy to decide, or
/// its read models do not show yet what it answered a moment ago (a command waits for them
/// only so long).
fn again(status: u16, body: &Value) -> bool {
    matches!(status, 502..=504)
        || (status == 409 && body["detail"] == "Too many concurrent changes, please retry")
        || (status == 404
            && matches!(
                body["detail"].as_str(),
                Some("Hold not found" | "Order not found")
            ))
}

/// Signs in as `email`; the access token. The first admin is recorded by a reaction the
/// service waits for only so long at start-up: until it is, its login is refused.
pub async fn sign_in(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let client = Client::new(http, base, None, &Arc::default());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = json!({"email": email, "password": password});
        let reply = client.post("/api/users/login", body).await;
        if reply.status == 200 {
            return reply.body["token"].as_str().expect("a token").to_owned();
        }
        assert!(
            reply.status == 401 && Instant::now() < deadline,
            "signing in as {email}: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
