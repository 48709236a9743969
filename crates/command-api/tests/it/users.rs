//! Accounts: register, log in, renew and end logins, see and erase one's profile, and what
//! admins may do. Personal data never reaches the log or the read models readable.

use crate::support::{Reply, TestApp, detail};
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = app.request(method, path);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.raw(request).await
}

pub(crate) async fn register(app: &TestApp, username: &str, email: &str) -> i64 {
    let body = json!({"username": username, "email": email, "password": "correct horse"});
    let reply = send(app, Method::POST, "/api/users/register", None, Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["message"], "User registered successfully");
    reply.body["id"].as_i64().expect("an id")
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    let body = json!({"email": email, "password": password});
    send(app, Method::POST, "/api/users/login", None, Some(body)).await
}

/// Logs in and returns (access token, refresh token).
pub(crate) async fn signed_in(app: &TestApp, email: &str) -> (String, String) {
    let reply = login(app, email, "correct horse").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let text = |name: &str| reply.body[name].as_str().expect(name).to_owned();
    (text("token"), text("refresh_token"))
}

/// Another command API instance of the same deployment, as an operator's shell builds one.
pub(crate) async fn another_instance(app: &TestApp) -> command_api::AppState {
    let mut settings = command_api::Settings::with_listen(([127, 0, 0, 1], 0).into());
    settings.auth_secret = crate::support::AUTH_SECRET.to_owned();
    command_api::AppState::new(
        settings,
        app.store.clone(),
        app.pool.clone(),
        projector::followers(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("another instance")
}

/// A server whose first admin comes from `ADMIN_EMAIL`, as an operator would set it.
pub(crate) async fn with_admin() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.admin_email = "root@example.org".into();
        settings.admin_password = "correct horse".into();
    })
    .await
}

#[tokio::test]
async fn a_new_account_logs_in_and_sees_its_profile() {
    let app = TestApp::spawn().await;
    let id = register(&app, "tom", "Tom@Example.org").await;
    let reply = login(&app, "tom@example.org", "correct horse").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert_eq!(reply.body["message"], "Login successful");
    let token = reply.body["token"].as_str().expect("token");
    let profile = send(&app, Method::GET, "/api/users/profile", Some(token), None).await;
    assert_eq!(
        (profile.status, profile.body),
        (
            200,
            json!({"id": id, "username": "tom", "email": "Tom@Example.org", "role": "traveller"})
        )
    );
}

#[tokio::test]
async fn one_account_per_email_whatever_its_case() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let body =
        json!({"username": "thomas", "email": " TOM@example.ORG", "password": "another one"});
    let reply = send(&app, Method::POST, "/api/users/register", None, Some(body)).await;
    assert_eq!(
        (reply.status, reply.body),
        (409, detail("User already exists"))
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_make_one_account() {
    let app = TestApp::spawn().await;
    let attempts = (0..6).map(|n| {
        let body = json!({"username": format!("tom{n}"), "email": "tom@example.org", "password": "correct horse"});
        send(&app, Method::POST, "/api/users/register", None, Some(body))
    });
    let replies = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    let log = app.log().await;
    assert_eq!(
        log.iter()
            .filter(|e| e.event_type == "UserRegistered")
            .count(),
        1
    );
}

#[tokio::test]
async fn invalid_registrations_name_every_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "to", "email": "not an email", "password": "short"});
    let reply = send(&app, Method::POST, "/api/users/register", None, Some(body)).await;
    assert_eq!(reply.status, 422);
    let fields: Vec<&str> = reply.body["detail"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["loc"][1].as_str())
        .collect();
    assert_eq!(fields, vec!["username", "email", "password"]);
    assert!(
        !reply.body.to_string().contains("short"),
        "the password is never echoed"
    );
    assert!(app.log().await.is_empty());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let wrong = login(&app, "tom@example.org", "wrong password").await;
    let unknown = login(&app, "nobody@example.org", "correct horse").await;
    assert_eq!(
        (wrong.status, &wrong.body),
        (401, &detail("Invalid credentials"))
    );
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    assert_eq!(unknown.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn failed_logins_for_one_email_are_throttled_unknown_emails_too() {
    let app = TestApp::spawn_with(|settings| settings.login_max_failures = 3).await;
    register(&app, "tom", "tom@example.org").await;
    for email in ["tom@example.org", "nobody@example.org"] {
        for _ in 0..3 {
            assert_eq!(login(&app, email, "wrong password").await.status, 401);
        }
        let throttled = login(&app, email, "correct horse").await;
        assert_eq!(throttled.status, 429, "{email}");
        let retry_after: u64 = throttled.header("retry-after").parse().expect("seconds");
        assert!((1..=900).contains(&retry_after));
    }
    // Another email is not held back by these.
    register(&app, "ann", "ann@example.org").await;
    assert_eq!(
        login(&app, "ann@example.org", "correct horse").await.status,
        200
    );
}

#[tokio::test]
async fn a_refresh_renews_once_and_a_replayed_token_ends_the_login() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let (_, refresh) = signed_in(&app, "tom@example.org").await;
    let renew = |token: String| {
        send(
            &app,
            Method::POST,
            "/api/users/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
    };
    let renewed = renew(refresh.clone()).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let next = renewed.body["refresh_token"]
        .as_str()
        .expect("new token")
        .to_owned();
    assert_ne!(next, refresh);
    // The spent token again: refused, and the login it belonged to is over.
    assert_eq!(renew(refresh).await.status, 401);
    assert_eq!(renew(next).await.status, 401);
}

#[tokio::test]
async fn logout_ends_the_login() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let (_, refresh) = signed_in(&app, "tom@example.org").await;
    let body = || Some(json!({"refresh_token": refresh}));
    let out = send(&app, Method::POST, "/api/users/logout", None, body()).await;
    assert_eq!(out.status, 200);
    assert_eq!(
        send(&app, Method::POST, "/api/users/logout", None, body())
            .await
            .status,
        401
    );
    assert_eq!(
        send(&app, Method::POST, "/api/users/refresh", None, body())
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_other_logins() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let (token, kept) = signed_in(&app, "tom@example.org").await;
    let (_, other) = signed_in(&app, "tom@example.org").await;
    let change =
        |current: &str| Some(json!({"current_password": current, "new_password": "a new secret"}));
    let wrong = send(
        &app,
        Method::PUT,
        "/api/users/password",
        Some(&token),
        change("nope"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let changed = send(
        &app,
        Method::PUT,
        "/api/users/password",
        Some(&token),
        change("correct horse"),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(
        login(&app, "tom@example.org", "correct horse").await.status,
        401
    );
    assert_eq!(
        login(&app, "tom@example.org", "a new secret").await.status,
        200
    );
    let renew = |token: &str| {
        send(
            &app,
            Method::POST,
            "/api/users/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
    };
    assert_eq!(renew(&other).await.status, 401, "another login is over");
    assert_eq!(renew(&kept).await.status, 200, "the changing login goes on");
}

#[tokio::test]
async fn only_admins_list_accounts_and_change_roles() {
    let app = with_admin().await;
    let tom = register(&app, "tom", "tom@example.org").await;
    let ann = register(&app, "ann", "ann@example.org").await;
    let (tom_token, _) = signed_in(&app, "tom@example.org").await;
    assert_eq!(
        send(&app, Method::GET, "/api/users/allusers", None, None)
            .await
            .status,
        401
    );
    let refused = send(
        &app,
        Method::GET,
        "/api/users/allusers",
        Some(&tom_token),
        None,
    )
    .await;
    assert_eq!((refused.status, refused.body), (403, detail("Not allowed")));
    let role = || Some(json!({"role": "admin"}));
    let path = format!("/api/users/{ann}/role");
    assert_eq!(
        send(&app, Method::PUT, &path, Some(&tom_token), role())
            .await
            .status,
        403
    );

    let (root_token, _) = signed_in(&app, "root@example.org").await;
    let promoted = send(&app, Method::PUT, &path, Some(&root_token), role()).await;
    assert_eq!((promoted.status, &promoted.body), (200, &json!(ann)));
    // Ann's next login carries the new role.
    let (ann_token, _) = signed_in(&app, "ann@example.org").await;
    let all = send(
        &app,
        Method::GET,
        "/api/users/allusers?limit=2&offset=1",
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(
        (all.status, all.body),
        (
            200,
            json!([
                {"id": tom, "username": "tom", "email": "tom@example.org", "role": "traveller"},
                {"id": ann, "username": "ann", "email": "ann@example.org", "role": "admin"},
            ])
        )
    );
    let after = send(
        &app,
        Method::GET,
        &format!("/api/users/allusers?limit=1&after_id={tom}"),
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(
        (after.status, after.body),
        (
            200,
            json!([{"id": ann, "username": "ann", "email": "ann@example.org", "role": "admin"}])
        )
    );
    let missing = send(
        &app,
        Method::PUT,
        "/api/users/999/role",
        Some(&ann_token),
        role(),
    )
    .await;
    assert_eq!(
        (missing.status, missing.body),
        (404, detail("User not found"))
    );
    let bad = send(
        &app,
        Method::PUT,
        &path,
        Some(&ann_token),
        Some(json!({"role": "king"})),
    )
    .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn the_first_admin_is_made_once_from_the_settings() {
    let app = with_admin().await;
    // A second instance with the same settings finds the account and makes no other.
    let second = another_instance(&app).await;
    let again = second
        .create_admin("admin", "ROOT@example.org", "correct horse")
        .await
        .expect("create");
    assert_eq!(again, None);
    let log = app.log().await;
    let registered: Vec<&str> = log
        .iter()
        .filter(|e| e.event_type == "UserRegistered")
        .filter_map(|e| e.data["role"].as_str())
        .collect();
    assert_eq!(registered, vec!["admin"]);
    let (token, _) = signed_in(&app, "root@example.org").await;
    let profile = send(&app, Method::GET, "/api/users/profile", Some(&token), None).await;
    assert_eq!(profile.body["role"], "admin");
    assert_eq!(profile.body["username"], "admin");
}

#[tokio::test]
async fn an_operator_resets_a_password_and_every_login_ends() {
    let app = TestApp::spawn().await;
    register(&app, "tom", "tom@example.org").await;
    let (_, refresh) = signed_in(&app, "tom@example.org").await;
    let operator = another_instance(&app).await;
    assert!(
        operator
            .reset_password("tom@example.org", "a new secret")
            .await
            .expect("reset")
    );
    assert!(
        !operator
            .reset_password("nobody@example.org", "a new secret")
            .await
            .expect("reset")
    );
    assert_eq!(
        login(&app, "tom@example.org", "correct horse").await.status,
        401
    );
    assert_eq!(
        login(&app, "tom@example.org", "a new secret").await.status,
        200
    );
    let renew = Some(json!({"refresh_token": refresh}));
    assert_eq!(
        send(&app, Method::POST, "/api/users/refresh", None, renew)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn an_erased_account_is_gone_and_its_email_may_register_again() {
    let app = TestApp::spawn().await;
    let tom = register(&app, "tom", "tom@example.org").await;
    let (token, refresh) = signed_in(&app, "tom@example.org").await;
    let erased = send(
        &app,
        Method::DELETE,
        "/api/users/profile",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(
        login(&app, "tom@example.org", "correct horse").await.status,
        401
    );
    let renew = Some(json!({"refresh_token": refresh}));
    assert_eq!(
        send(&app, Method::POST, "/api/users/refresh", None, renew)
            .await
            .status,
        401
    );
    assert_eq!(
        send(&app, Method::GET, "/api/users/profile", Some(&token), None)
            .await
            .status,
        401
    );
    // The address is free again, for a new account.
    let again = register(&app, "tommy", "tom@example.org").await;
    assert_ne!(again, tom);

    // Nothing readable is left of the first account: not in the log, nor the read models.
    let log = app.log().await;
    let everything = format!("{log:?}");
    assert!(!everything.contains("tom@example.org") && !everything.contains("\"tom\""));
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(u)::text FROM read_models.users u")
            .fetch_all(&app.pool)
            .await
            .expect("users");
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].contains("tommy"),
        "profiles stay sealed in the read model"
    );
}

#[tokio::test]
async fn tokens_that_prove_nothing_are_refused() {
    let app = TestApp::spawn().await;
    for token in [
        None,
        Some("garbage"),
        Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
    ] {
        let reply = send(&app, Method::GET, "/api/users/profile", token, None).await;
        assert_eq!(
            (reply.status, &reply.body),
            (401, &detail("Not authenticated")),
            "{token:?}"
        );
        assert_eq!(reply.header("www-authenticate"), "Bearer");
    }
}

#[tokio::test]
async fn the_public_keys_are_published() {
    let app = TestApp::spawn().await;
    let (status, jwks) = app.get("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
}

#[tokio::test]
async fn without_a_secret_accounts_are_not_configured() {
    let app = TestApp::spawn_with(|settings| settings.auth_secret = String::new()).await;
    let body = json!({"username": "tom", "email": "tom@example.org", "password": "correct horse"});
    let reply = send(&app, Method::POST, "/api/users/register", None, Some(body)).await;
    assert_eq!(
        (reply.status, reply.body),
        (404, detail("Accounts are not configured"))
    );
}
