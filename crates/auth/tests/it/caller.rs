//! The extractors behind a real server on a loopback port: who gets in, and the exact answer
//! to those who do not.

use std::sync::Arc;

use auth::{Admin, Caller, KeyRing, SocketCaller};
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use chrono::Utc;
use domain::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::Keys;

/// A service state of the usual shape: the ring is one field among others, reached through
/// `FromRef`.
#[derive(Clone, FromRef)]
struct AppState {
    keys: Arc<KeyRing>,
    name: &'static str,
}

fn describe(caller: Caller) -> axum::Json<Value> {
    axum::Json(json!({
        "user_id": caller.user_id,
        "role": caller.role.as_str(),
        "session": caller.session,
    }))
}

struct Server {
    base: String,
    client: reqwest::Client,
    ring: Arc<KeyRing>,
    _keys: Keys,
}

impl Server {
    async fn start() -> Self {
        let keys = Keys::new().await;
        let ring = keys.ring().await;
        let app = Router::new()
            .route("/me", get(|caller: Caller| async move { describe(caller) }))
            .route(
                "/admin",
                get(|Admin(caller): Admin| async move { describe(caller) }),
            )
            .route(
                "/ws",
                get(|SocketCaller(caller): SocketCaller| async move { describe(caller) }),
            )
            .with_state(AppState {
                keys: ring.clone(),
                name: "test",
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            client: reqwest::Client::new(),
            ring,
            _keys: keys,
        }
    }

    fn token(&self, user_id: i64, role: Role) -> (String, Uuid) {
        let session = Uuid::now_v7();
        let token = self
            .ring
            .issue(UserId(user_id), role, session, Utc::now())
            .expect("sign");
        (token, session)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Option<String>, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("a response");
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        (
            status,
            challenge,
            response.json().await.expect("a JSON body"),
        )
    }
}

fn not_authenticated() -> (StatusCode, Option<String>, Value) {
    (
        StatusCode::UNAUTHORIZED,
        Some("Bearer".into()),
        json!({"detail": "Not authenticated"}),
    )
}

#[tokio::test]
async fn a_valid_bearer_token_names_the_caller() {
    let server = Server::start().await;
    let (token, session) = server.token(12, Role::Traveller);

    let (status, _, body) = server.get("/me", Some(&token)).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"user_id": 12, "role": "traveller", "session": session})
    );
}

#[tokio::test]
async fn no_token_or_a_refused_one_answers_401_with_a_bearer_challenge() {
    let server = Server::start().await;
    let (token, _) = server.token(12, Role::Traveller);
    let tampered = format!("{token}x");

    assert_eq!(server.get("/me", None).await, not_authenticated());
    assert_eq!(
        server.get("/me", Some("garbage")).await,
        not_authenticated()
    );
    assert_eq!(
        server.get("/me", Some(&tampered)).await,
        not_authenticated()
    );
    assert_eq!(server.get("/admin", None).await, not_authenticated());
}

#[tokio::test]
async fn a_traveller_is_not_allowed_where_only_admins_are() {
    let server = Server::start().await;
    let (traveller, _) = server.token(1, Role::Traveller);
    let (admin, _) = server.token(2, Role::Admin);

    assert_eq!(
        server.get("/admin", Some(&traveller)).await,
        (
            StatusCode::FORBIDDEN,
            None,
            json!({"detail": "Not allowed"})
        )
    );
    let (status, _, body) = server.get("/admin", Some(&admin)).await;
    assert_eq!((status, &body["user_id"]), (StatusCode::OK, &json!(2)));
}

#[tokio::test]
async fn a_websocket_upgrade_may_carry_its_token_in_the_query() {
    let server = Server::start().await;
    let (token, _) = server.token(5, Role::Traveller);

    let (status, _, body) = server.get(&format!("/ws?access_token={token}"), None).await;
    assert_eq!((status, &body["user_id"]), (StatusCode::OK, &json!(5)));

    assert_eq!(server.get("/ws", None).await, not_authenticated());
    assert_eq!(
        server.get("/ws?access_token=", None).await,
        not_authenticated()
    );
    assert_eq!(
        server.get("/ws?access_token=garbage", None).await,
        not_authenticated()
    );
}

#[tokio::test]
async fn on_a_websocket_upgrade_the_header_wins_over_the_query() {
    let server = Server::start().await;
    let (header_token, _) = server.token(6, Role::Traveller);
    let (query_token, _) = server.token(7, Role::Traveller);

    let (status, _, body) = server
        .get(
            &format!("/ws?access_token={query_token}"),
            Some(&header_token),
        )
        .await;

    assert_eq!((status, &body["user_id"]), (StatusCode::OK, &json!(6)));
    assert_eq!(
        server
            .get("/ws?access_token=garbage", Some(&header_token))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn plain_requests_ignore_a_token_in_the_query() {
    let server = Server::start().await;
    let (token, _) = server.token(5, Role::Traveller);

    assert_eq!(
        server.get(&format!("/me?access_token={token}"), None).await,
        not_authenticated()
    );
}
