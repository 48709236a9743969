//! The gateway's door: with `AUTH=required` lobbies change only for admins, start-booking and
//! the lobby websocket need a signed-in caller, reads stay open; with `AUTH=off` tokens are
//! ignored. The tokens come from the command API of the stack, through the gateway.

use crate::support::{AUTH_SECRET, Reply, Server, Socket, Stack, detail, next_json};
use auth::AuthMode;
use lobby_gateway::{AppState, Settings};
use serde_json::json;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// How long the gateway waits for the command API in these tests: registering hashes a
/// password (Argon2), which takes seconds when every test of the run does it at once on two
/// cores; this suite checks who may do what, not how fast.
pub(crate) const SIGN_IN_PATIENCE_MS: u64 = 30_000;

/// A stack whose gateway requires tokens, checked with the command API's keys.
async fn secured() -> Stack {
    Stack::start(1, |settings| {
        settings.auth = AuthMode::Required;
        settings.auth_secret = AUTH_SECRET.to_owned();
        settings.upstream_timeout_ms = SIGN_IN_PATIENCE_MS;
    })
    .await
}

/// An access token for `email` with `password`, from a login through the gateway.
pub(crate) async fn login(stack: &Stack, email: &str, password: &str) -> String {
    let credentials = json!({"email": email, "password": password});
    let (status, login) = stack
        .post(stack.gateway().url("/api/users/login"), credentials)
        .await;
    assert_eq!(status, 200, "{login}");
    login["token"].as_str().expect("a token").to_owned()
}

/// A new traveller's access token.
pub(crate) async fn traveller(stack: &Stack, name: &str) -> String {
    let email = format!("{name}@example.org");
    let registration = json!({"username": name, "email": email, "password": "correct horse"});
    let (status, body) = stack
        .post(stack.gateway().url("/api/users/register"), registration)
        .await;
    assert_eq!(status, 201, "{body}");
    login(stack, &email, "correct horse").await
}

/// An admin's access token: a second command API creates the first admin at start-up, as
/// `ADMIN_EMAIL` does, in the database the whole stack shares.
pub(crate) async fn admin(stack: &mut Stack) -> String {
    let api = stack
        .start_api_with(([127, 0, 0, 1], 0).into(), |settings| {
            settings.admin_email = "root@example.org".into();
            settings.admin_password = "correct horse battery".into();
        })
        .await;
    stack.apis.push(api);
    login(stack, "root@example.org", "correct horse battery").await
}

/// Sends `request` with `token` as a bearer token, if any.
pub(crate) async fn send(
    stack: &Stack,
    request: reqwest::RequestBuilder,
    token: Option<&str>,
) -> Reply {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    stack.send(request).await
}

/// A train, made by `admin` through `/ts` (which may need a token of its own).
pub(crate) async fn train(stack: &Stack, admin: &str) -> i64 {
    let body = json!({
        "route": "Chisinau-Bucuresti",
        "departure_time": "2099-09-25T06:30",
        "arrival_time": "2099-09-26T11:40",
        "available_seats": 10,
    });
    let request = stack.client.post(stack.gateway().url("/ts/trains"));
    let reply = send(stack, request.json(&body), Some(admin)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.as_i64().expect("an integer id")
}

/// A lobby for `train`, opened by `admin` under `prefix` (`""` or `"/ls"`).
pub(crate) async fn lobby(stack: &Stack, prefix: &str, admin: &str, train: i64) -> i64 {
    let request = stack
        .client
        .post(stack.gateway().url(&format!("{prefix}/lobbies")));
    let reply = send(
        stack,
        request.json(&json!({"train_id": train})),
        Some(admin),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.as_i64().expect("an integer id")
}

/// 401 `Not authenticated`, asking for a bearer token.
fn assert_not_authenticated(reply: &Reply) {
    assert_eq!(
        (reply.status, &reply.body),
        (401, &detail("Not authenticated"))
    );
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
}

/// A websocket upgrade to `path` with `token` in the `Authorization` header, if any: the
/// socket, or the HTTP status and `WWW-Authenticate` it was refused with.
pub(crate) async fn upgrade(
    gateway: &Server,
    path: &str,
    token: Option<&str>,
) -> Result<Socket, (u16, Option<String>)> {
    let mut request = format!("ws://{}{path}", gateway.address)
        .into_client_request()
        .expect("a websocket request");
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("a header value");
        request.headers_mut().insert("authorization", value);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|value| value.to_str().expect("text").to_owned());
            Err((response.status().as_u16(), challenge))
        }
        Err(other) => panic!("the upgrade failed otherwise: {other}"),
    }
}

async fn assert_welcomed(mut socket: Socket, lobby: i64) {
    let welcome = next_json(&mut socket).await;
    assert_eq!(
        (&welcome["type"], &welcome["lobby_id"]),
        (&json!("welcome"), &json!(lobby)),
        "{welcome}"
    );
}

#[tokio::test]
async fn only_an_admin_opens_and_closes_a_lobby_and_anyone_reads_them() {
    let mut stack = secured().await;
    let admin = admin(&mut stack).await;
    let tom = traveller(&stack, "tom").await;
    let client = &stack.client;
    for prefix in ["", "/ls"] {
        let train = train(&stack, &admin).await;
        let url = stack.gateway().url(&format!("{prefix}/lobbies"));
        let body = json!({"train_id": train});
        let reply = send(&stack, client.post(&url).json(&body), None).await;
        assert_not_authenticated(&reply);
        let reply = send(&stack, client.post(&url).json(&body), Some("garbage")).await;
        assert_not_authenticated(&reply);
        let reply = send(&stack, client.post(&url).json(&body), Some(&tom)).await;
        assert_eq!((reply.status, reply.body), (403, detail("Not allowed")));
        let id = lobby(&stack, prefix, &admin, train).await;

        // Reads need no token.
        let (status, lobbies) = stack.get(url.clone()).await;
        assert_eq!(status, 200, "{lobbies}");
        assert!(
            lobbies
                .as_array()
                .expect("a list")
                .iter()
                .any(|l| l["id"] == id)
        );
        let one = stack.gateway().url(&format!("{prefix}/lobbies/{id}"));
        let (status, shown) = stack.get(one.clone()).await;
        assert_eq!((status, shown), (200, json!({"train_id": train, "id": id})));

        let reply = send(&stack, client.delete(&one), None).await;
        assert_not_authenticated(&reply);
        let reply = send(&stack, client.delete(&one), Some(&tom)).await;
        assert_eq!((reply.status, reply.body), (403, detail("Not allowed")));
        let reply = send(&stack, client.delete(&one), Some(&admin)).await;
        assert_eq!((reply.status, reply.body), (200, json!(id)));
    }
    for path in ["/status", "/ls/status", "/openapi.json"] {
        let (status, body) = stack.get(stack.gateway().url(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn the_lobby_websocket_refuses_the_upgrade_without_a_valid_token() {
    let mut stack = secured().await;
    let admin = admin(&mut stack).await;
    let tom = traveller(&stack, "tom").await;
    let train = train(&stack, &admin).await;
    let lobby = lobby(&stack, "", &admin, train).await;
    let gateway = stack.gateway();
    let refused = Some((401, Some("Bearer".to_owned())));
    for prefix in ["", "/ls"] {
        let path = format!("{prefix}/lobbies/ws/{lobby}");
        assert_eq!(upgrade(gateway, &path, None).await.err(), refused);
        assert_eq!(
            upgrade(gateway, &path, Some("garbage")).await.err(),
            refused
        );
        let garbage = format!("{path}?access_token=garbage");
        assert_eq!(upgrade(gateway, &garbage, None).await.err(), refused);

        let socket = upgrade(gateway, &path, Some(&tom)).await.expect("welcomed");
        assert_welcomed(socket, lobby).await;
        let with_query = format!("{path}?after=0.0&access_token={tom}");
        let socket = upgrade(gateway, &with_query, None).await.expect("welcomed");
        assert_welcomed(socket, lobby).await;
    }
    // Who asks comes before how: a plain request without a token is refused as such.
    let reply = send(
        &stack,
        stack
            .client
            .get(gateway.url(&format!("/lobbies/ws/{lobby}"))),
        None,
    )
    .await;
    assert_not_authenticated(&reply);
    let reply = stack
        .send(
            stack
                .client
                .get(gateway.url(&format!("/lobbies/ws/{lobby}")))
                .bearer_auth(&tom),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[tokio::test]
async fn start_booking_needs_a_signed_in_caller_at_the_gateway_itself() {
    let mut stack = secured().await;
    let admin = admin(&mut stack).await;
    let tom = traveller(&stack, "tom").await;
    let train = train(&stack, &admin).await;
    let url = stack.gateway().url("/start-booking");
    let body = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let reply = send(&stack, stack.client.post(&url).json(&body), Some(&tom)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Booking registered successfully");

    // With every command API stopped, a forwarded request could only fail with a 503: the
    // 401 is the gateway's own.
    for api in &mut stack.apis {
        api.stop().await;
    }
    let reply = send(&stack, stack.client.post(&url).json(&body), None).await;
    assert_not_authenticated(&reply);
    let reply = send(&stack, stack.client.post(&url).json(&body), Some("garbage")).await;
    assert_not_authenticated(&reply);
}

/// A stand-in command API that answers every request with `7` and tells the test which
/// `Authorization` and `Idempotency-Key` each request carried.
async fn recording_upstream() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Option<String>, Option<String>)>,
) {
    use axum::http::{HeaderMap, Uri};
    let (seen, heard) = tokio::sync::mpsc::unbounded_channel();
    let record = move |uri: Uri, headers: HeaderMap| {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|value| value.to_str().expect("text").to_owned())
        };
        let _ = seen.send((
            uri.path().to_owned(),
            header("authorization"),
            header("idempotency-key"),
        ));
        async { axum::Json(7) }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let app = axum::Router::new().fallback(record);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, heard)
}

#[tokio::test]
async fn the_callers_authorization_reaches_the_command_api_unchanged() {
    let stack = secured().await;
    let tom = traveller(&stack, "tom").await;
    let (upstream, mut heard) = recording_upstream().await;
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), vec![upstream]);
    settings.auth = AuthMode::Required;
    settings.auth_secret = AUTH_SECRET.to_owned();
    let gateway = stack.start_gateway(settings).await;
    let bearer = Some(format!("Bearer {tom}"));

    let booking = json!({"train_id": 1, "user_credentials": "Tom Ford"});
    let request = stack
        .client
        .post(gateway.url("/start-booking"))
        .header("Idempotency-Key", "k1")
        .json(&booking);
    let reply = send(&stack, request, Some(&tom)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["booking_id"], 7);
    let forwarded = heard.recv().await.expect("the booking was forwarded");
    assert_eq!(
        forwarded,
        ("/bookings".into(), bearer.clone(), Some("k1".into()))
    );

    for (path, upstream_path) in [
        ("/ts/bookings/3", "/bookings/3"),
        ("/api/users/profile", "/api/users/profile"),
    ] {
        let reply = send(&stack, stack.client.get(gateway.url(path)), Some(&tom)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let forwarded = heard.recv().await.expect("the request was forwarded");
        assert_eq!(forwarded, (upstream_path.into(), bearer.clone(), None));
    }
}

#[tokio::test]
async fn with_auth_off_every_lobby_path_ignores_tokens() {
    // `Settings::new` leaves the door open, as every other test of this binary relies on.
    let stack = Stack::start(1, |_| {}).await;
    let train = stack.train(10).await;
    let client = &stack.client;
    let url = stack.gateway().url("/lobbies");
    let body = json!({"train_id": train});
    let reply = send(&stack, client.post(&url).json(&body), Some("garbage")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.body.as_i64().expect("an integer id");
    let path = format!("/lobbies/ws/{id}?access_token=garbage");
    let socket = upgrade(stack.gateway(), &path, Some("garbage"))
        .await
        .expect("welcomed");
    assert_welcomed(socket, id).await;
    let booking = json!({"train_id": train, "user_credentials": "Tom Ford"});
    let start = stack.gateway().url("/start-booking");
    let reply = send(&stack, client.post(&start).json(&booking), Some("garbage")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let one = stack.gateway().url(&format!("/lobbies/{id}"));
    let reply = send(&stack, client.delete(&one), Some("garbage")).await;
    assert_eq!((reply.status, reply.body), (200, json!(id)));
}

#[tokio::test]
async fn auth_required_without_a_secret_does_not_start() {
    let stack = Stack::start(0, |_| {}).await;
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), vec![stack.apis[0].url("")]);
    settings.auth = AuthMode::Required;
    let started = AppState::new(
        settings,
        stack.store.clone(),
        stack.pool.clone(),
        projector::followers(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    let error = started.err().expect("refused");
    assert!(error.to_string().contains("AUTH_SECRET"), "{error}");
}
