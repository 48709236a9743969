//! `/api/users`: accounts. Registration, role and password changes and erasure are events of
//! the `User` aggregate; the email's uniqueness is its own stream (`EmailClaim`), won by the
//! registration that claims it first. Personal data (username, email) is sealed under the
//! account's own key before it reaches an event, and the key is destroyed on erasure; password
//! hashes and refresh tokens are kept beside the log (see the `auth` crate).
//!
//! Only present when `AUTH_SECRET` is set; otherwise every path here answers 404.

pub(crate) mod bodies;
mod signed;

use crate::AppState;
use auth::{KeyRing, KeyRingSettings, Refused, Sessions, Vault};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bodies::{Credentials, NewPassword, NewRole, RefreshToken, Registration};
use chrono::Utc;
use commands::{CommandError, Origin};
use domain::{
    EmailCommand, EmailError, EmailState, Role, UserCommand, UserError, UserId, UserState,
};
use event_store::Position;
use http_kit::{ApiError, Page, PathId, Valid};
use serde::{Deserialize, Serialize};
pub(crate) use signed::{AdminCaller, SignedCaller};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Everything accounts need; built once at start-up when `AUTH_SECRET` is set.
pub(crate) struct Accounts {
    pub ring: Arc<KeyRing>,
    pub vault: Vault,
    pub sessions: Sessions,
    pub throttle: throttle::Throttle,
}

pub(crate) mod throttle;

impl Accounts {
    pub async fn start(
        settings: &crate::Settings,
        secret: &auth::AuthSecret,
        pool: &sqlx::PgPool,
        redis: http_kit::RedisLink,
    ) -> anyhow::Result<Self> {
        if settings.migrate {
            auth::migrate(pool).await?;
        }
        let ring = KeyRing::load(
            pool.clone(),
            secret,
            KeyRingSettings {
                token_lifetime: Duration::from_secs(settings.access_token_ttl_secs),
                ..KeyRingSettings::default()
            },
        )
        .await?;
        Ok(Self {
            ring: Arc::new(ring),
            vault: Vault::new(pool.clone(), secret),
            sessions: Sessions::new(
                pool.clone(),
                Duration::from_secs(settings.refresh_token_ttl_secs),
            ),
            throttle: throttle::Throttle::new(
                redis,
                format!("{}login-failures:", settings.redis_key_prefix),
                settings.login_max_failures,
            ),
        })
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users/register", post(register))
        .route("/api/users/login", post(login))
        .route("/api/users/refresh", post(refresh))
        .route("/api/users/logout", post(logout))
        .route("/api/users/profile", get(profile).delete(erase))
        .route("/api/users/allusers", get(all_users))
        .route("/api/users/{user_id}/role", put(change_role))
        .route("/api/users/password", put(change_password))
        .route("/.well-known/jwks.json", get(jwks))
}

/// What an account shows of itself, once its profile is opened.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserView {
    id: i64,
    username: String,
    email: String,
    #[schema(example = "traveller")]
    role: &'static str,
}

/// The personal part of an account, as sealed into its events.
#[derive(Serialize, Deserialize)]
struct Profile {
    username: String,
    email: String,
}

/// A login's tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct Tokens {
    /// The access token (EdDSA JWT): `Authorization: Bearer <token>`.
    token: String,
    /// Opaque; spend it at `/api/users/refresh` for new tokens.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the access token is valid for.
    expires_in: u64,
    #[schema(example = "Login successful")]
    message: &'static str,
}

/// `{"message": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Message {
    message: &'static str,
}

/// `{"message": ..., "id": ...}`: a new account.
#[derive(Serialize, ToSchema)]
pub(crate) struct Registered {
    #[schema(example = "User registered successfully")]
    message: &'static str,
    id: i64,
}

const INVALID_CREDENTIALS: &str = "Invalid credentials";
const USER_NOT_FOUND: &str = "User not found";

#[utoipa::path(
    post, path = "/api/users/register", operation_id = "register_user", tag = "users",
    request_body = Registration,
    responses(
        (status = 201, body = Registered),
        (status = 409, description = "User already exists (same email)", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn register(
    State(state): State<AppState>,
    Valid(registration): Valid<Registration>,
) -> Result<Response, ApiError> {
    let user_id = create_account(
        &state,
        registration.username,
        &registration.email,
        registration.password,
        Role::Traveller,
    )
    .await?;
    let body = Registered {
        message: "User registered successfully",
        id: user_id.0,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    post, path = "/api/users/login", operation_id = "login", tag = "users",
    request_body = Credentials,
    responses(
        (status = 200, body = Tokens),
        (status = 401, description = "Invalid credentials: the same for an unknown email and a wrong password", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 429, description = "Too many failed logins for this email; see Retry-After", body = crate::openapi::Detail),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn login(
    State(state): State<AppState>,
    Valid(credentials): Valid<Credentials>,
) -> Result<Response, ApiError> {
    let accounts = state.accounts()?;
    let email_key = accounts.vault.email_key(&credentials.email);
    accounts.throttle.check(&email_key.0).await?;
    let user = match state
        .emails()
        .load(email_key.clone())
        .await
        .map_err(email_error)?
    {
        EmailState::Claimed { user_id, .. } => {
            active(&state, user_id).await?.map(|role| (user_id, role))
        }
        EmailState::Free => None,
    };
    let stored = match user {
        Some((user_id, _)) => accounts.sessions.password_hash(user_id).await?,
        None => None,
    };
    // One Argon2 verification whatever the email: an unknown one runs against a dummy hash.
    let password = credentials.password;
    let verified = blocking(move || auth::verify_or_dummy(&password, stored.as_deref())).await?;
    let (Some((user_id, role)), true) = (user, verified) else {
        accounts.throttle.failed(&email_key.0).await;
        return Err(ApiError::Unauthorized(INVALID_CREDENTIALS));
    };
    let login = accounts.sessions.start(user_id).await?;
    tokens(accounts, user_id, role, login.session, login.refresh_token)
}

#[utoipa::path(
    post, path = "/api/users/refresh", operation_id = "refresh_tokens", tag = "users",
    request_body = RefreshToken,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is spent", body = Tokens),
        (status = 401, description = "Unknown, expired or revoked; a spent token revokes its whole login", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Valid(presented): Valid<RefreshToken>,
) -> Result<Response, ApiError> {
    let accounts = state.accounts()?;
    let renewal = match accounts.sessions.renew(&presented.refresh_token).await? {
        Ok(renewal) => renewal,
        Err(Refused::Unknown | Refused::Reused) => {
            return Err(ApiError::Unauthorized("Invalid refresh token"));
        }
    };
    // The role may have changed since the login; an erased account renews nothing.
    let Some(role) = active(&state, renewal.user_id).await? else {
        accounts.sessions.end_all_but(renewal.user_id, None).await?;
        return Err(ApiError::Unauthorized("Invalid refresh token"));
    };
    tokens(
        accounts,
        renewal.user_id,
        role,
        renewal.session,
        renewal.refresh_token,
    )
}

#[utoipa::path(
    post, path = "/api/users/logout", operation_id = "logout", tag = "users",
    request_body = RefreshToken,
    responses(
        (status = 200, description = "The login is over: its refresh tokens renew nothing", body = Message),
        (status = 401, description = "Unknown, expired or revoked refresh token", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Valid(presented): Valid<RefreshToken>,
) -> Result<Json<Message>, ApiError> {
    let accounts = state.accounts()?;
    if !accounts.sessions.end(&presented.refresh_token).await? {
        return Err(ApiError::Unauthorized("Invalid refresh token"));
    }
    Ok(Json(Message {
        message: "Logout successful",
    }))
}

#[utoipa::path(
    get, path = "/api/users/profile", operation_id = "get_profile", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn profile(
    State(state): State<AppState>,
    SignedCaller(caller): SignedCaller,
) -> Result<Json<UserView>, ApiError> {
    let views = views(&state, Some(caller.user_id), Page::first(1)).await?;
    views
        .into_iter()
        .next()
        .map(Json)
        .ok_or(ApiError::NotAuthenticated)
}

#[utoipa::path(
    delete, path = "/api/users/profile", operation_id = "erase_profile", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account is erased: its personal data can no longer be read anywhere", body = Message),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn erase(
    State(state): State<AppState>,
    SignedCaller(caller): SignedCaller,
) -> Result<Json<Message>, ApiError> {
    let accounts = state.accounts()?;
    // The key first: from here on nothing sealed for this person opens, wherever it is, and no
    // new booking can be made for them (a booking seals its traveller's name under this key).
    // A retry after a failure below finds the key gone and goes on.
    accounts.vault.destroy(caller.user_id).await?;
    // Their bookings, named in the erasure for the reaction that cancels those still ahead.
    let bookings = crate::bookings::owned_by(&state, caller.user_id).await?;
    let trains: std::collections::BTreeSet<_> = bookings.iter().map(|b| b.train_id).collect();
    let erase = UserCommand::Erase {
        bookings,
        at: Utc::now(),
    };
    let erased = state
        .users()
        .execute_from(caller.user_id, erase, by(&caller))
        .await
        .map_err(|e| user_error(e, ApiError::NotAuthenticated))?;
    accounts.sessions.forget(caller.user_id).await?;
    if let Some(position) = erased.position {
        let stream = caller.user_id.stream();
        let timeout = state.read_timeout();
        state
            .freshness()
            .wait_reactions(&stream, "UserErased", position, timeout)
            .await;
        state.freshness().wait(&stream, position, timeout).await;
        // The cancellations are recorded now; answer once the read models show them.
        for train in trains {
            let stream = train.stream();
            let events = event_store::EventStore::read_stream(state.store(), &stream).await?;
            if let Some(last) = events.last() {
                state
                    .freshness()
                    .wait(&stream, last.position, timeout)
                    .await;
            }
        }
    }
    Ok(Json(Message {
        message: "User erased successfully",
    }))
}

#[utoipa::path(
    get, path = "/api/users/allusers", operation_id = "list_users", tag = "users",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000; default 1000"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "0 to 10000; default 0; not with after_id"),
        ("after_id" = Option<i64>, Query, minimum = 0, description = "the rows with an id above this one (the last id of the page before), however deep; not with offset"),
    ),
    responses(
        (status = 200, body = [UserView]),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed: admins only", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn all_users(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
    page: Page,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(views(&state, None, page).await?))
}

#[utoipa::path(
    put, path = "/api/users/{user_id}/role", operation_id = "change_role", tag = "users",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    request_body = NewRole,
    responses(
        (status = 200, description = "The id", body = i64, content_type = "application/json"),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed: admins only", body = crate::openapi::Detail),
        (status = 404, description = "User not found", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all, fields(user.id = id))]
pub(crate) async fn change_role(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    PathId(id): PathId,
    Valid(NewRole { role }): Valid<NewRole>,
) -> Result<Json<i64>, ApiError> {
    let user_id = UserId(id);
    let change = UserCommand::ChangeRole {
        role,
        at: Utc::now(),
    };
    let changed = state
        .users()
        .execute_from(user_id, change, by(&admin))
        .await
        .map_err(|e| user_error(e, ApiError::NotFound(USER_NOT_FOUND)))?;
    shown(&state, user_id, changed.position).await;
    Ok(Json(id))
}

#[utoipa::path(
    put, path = "/api/users/password", operation_id = "change_password", tag = "users",
    security(("bearer" = [])),
    request_body = NewPassword,
    responses(
        (status = 200, description = "Changed; every other login of the account is over", body = Message),
        (status = 401, description = "Not authenticated, or the current password is wrong", body = crate::openapi::Detail),
        (status = 413, description = "Body over the limit", body = crate::openapi::Detail),
        (status = 422, description = "Invalid input", body = crate::openapi::Invalid),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
        (status = 503, description = "A dependency is unavailable", body = crate::openapi::Detail),
    ),
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    SignedCaller(caller): SignedCaller,
    Valid(change): Valid<NewPassword>,
) -> Result<Json<Message>, ApiError> {
    let accounts = state.accounts()?;
    let stored = accounts.sessions.password_hash(caller.user_id).await?;
    let current = change.current_password;
    let verified = blocking(move || auth::verify_or_dummy(&current, stored.as_deref())).await?;
    if !verified {
        return Err(ApiError::Unauthorized(INVALID_CREDENTIALS));
    }
    let new = change.new_password;
    let hash = blocking(move || auth::hash_password(&new)).await?;
    let change = UserCommand::ChangePassword { at: Utc::now() };
    state
        .users()
        .execute_from(caller.user_id, change, by(&caller))
        .await
        .map_err(|e| user_error(e, ApiError::NotAuthenticated))?;
    accounts
        .sessions
        .set_password_hash(caller.user_id, &hash)
        .await?;
    accounts
        .sessions
        .end_all_but(caller.user_id, Some(caller.session))
        .await?;
    Ok(Json(Message {
        message: "Password changed successfully",
    }))
}

#[utoipa::path(
    get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "users",
    responses(
        (status = 200, description = "The public keys (Ed25519, as JWKs) that verify access tokens", body = Object),
        (status = 404, description = "Accounts are not configured (no AUTH_SECRET)", body = crate::openapi::Detail),
    ),
)]
pub(crate) async fn jwks(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.accounts()?.ring.jwks()))
}

/// Creates an account: claims its email (409 if another account holds it), then waits until
/// the reaction to the claim has recorded the account and the read models show it.
pub(crate) async fn create_account(
    state: &AppState,
    username: String,
    email: &str,
    password: String,
    role: Role,
) -> Result<UserId, ApiError> {
    let accounts = state.accounts()?;
    let email_key = accounts.vault.email_key(email);
    // Refused early, before an id is spent; the claim below still decides under concurrency.
    if let EmailState::Claimed { .. } = state
        .emails()
        .load(email_key.clone())
        .await
        .map_err(email_error)?
    {
        return Err(ApiError::Conflict("User already exists".into()));
    }
    let user_id = state.ids().user().await?;
    let key = accounts.vault.create(user_id).await?;
    let profile = Profile {
        username,
        email: email.trim().to_owned(),
    };
    let sealed = key.seal(&serde_json::to_string(&profile).map_err(ApiError::internal)?);
    let hash = blocking(move || auth::hash_password(&password)).await?;
    accounts.sessions.set_password_hash(user_id, &hash).await?;
    let claim = EmailCommand::Claim {
        email_key: email_key.clone(),
        user_id,
        profile: sealed,
        role,
        at: Utc::now(),
    };
    let claimed = match state.emails().execute(email_key.clone(), claim).await {
        Ok(claimed) => claimed,
        Err(CommandError::Rejected(EmailError::EmailTaken)) => {
            // Lost the race: what was made for this id goes.
            accounts.vault.destroy(user_id).await?;
            accounts.sessions.forget(user_id).await?;
            return Err(ApiError::Conflict("User already exists".into()));
        }
        // The claim may still have landed (the store went away mid-append): keep its key and
        // password, or the account the reaction records would be unusable.
        Err(e) => return Err(email_error(e)),
    };
    // The account is recorded by a reaction to the claim; answer once it is, and shown. The
    // wait is for the projections of the account's own stream: waiting for every projection
    // to pass the claim would sit out the timeout, as those that read no such stream never
    // move for it.
    if let Some(position) = claimed.position {
        let timeout = state.read_timeout();
        state
            .freshness()
            .wait_reactions(&email_key.stream(), "EmailClaimed", position, timeout)
            .await;
        let stream = user_id.stream();
        let recorded = event_store::EventStore::read_stream(state.store(), &stream).await?;
        if let Some(last) = recorded.last() {
            state
                .freshness()
                .wait(&stream, last.position, timeout)
                .await;
        }
    }
    Ok(user_id)
}

/// Sets a new password for the account of `email` and ends its logins: what an operator does
/// for a user who lost theirs (there is no email channel). `false` if no account holds it.
pub(crate) async fn reset_password(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<bool, ApiError> {
    let accounts = state.accounts()?;
    let email_key = accounts.vault.email_key(email);
    let EmailState::Claimed { user_id, .. } =
        state.emails().load(email_key).await.map_err(email_error)?
    else {
        return Ok(false);
    };
    let hash = blocking(move || auth::hash_password(&password)).await?;
    state
        .users()
        .execute(user_id, UserCommand::ChangePassword { at: Utc::now() })
        .await
        .map_err(|e| user_error(e, ApiError::NotFound(USER_NOT_FOUND)))?;
    accounts.sessions.set_password_hash(user_id, &hash).await?;
    accounts.sessions.end_all_but(user_id, None).await?;
    Ok(true)
}

/// The answer to a login or refresh.
fn tokens(
    accounts: &Accounts,
    user_id: UserId,
    role: Role,
    session: uuid::Uuid,
    refresh_token: String,
) -> Result<Response, ApiError> {
    let token = accounts
        .ring
        .issue(user_id, role, session, Utc::now())
        .map_err(ApiError::internal)?;
    Ok(Json(Tokens {
        token,
        refresh_token,
        token_type: "Bearer",
        expires_in: accounts.ring.settings().token_lifetime.as_secs(),
        message: "Login successful",
    })
    .into_response())
}

/// The role of `user_id` if the account is active.
async fn active(state: &AppState, user_id: UserId) -> Result<Option<Role>, ApiError> {
    match state.users().load(user_id).await {
        Ok(UserState::Active { role, .. }) => Ok(Some(role)),
        Ok(UserState::Unregistered | UserState::Erased { .. }) => Ok(None),
        Err(e) => Err(user_error(e, ApiError::NotAuthenticated)),
    }
}

/// Accounts as shown, from the read model, their profiles opened; `only` one account.
async fn views(
    state: &AppState,
    only: Option<UserId>,
    page: Page,
) -> Result<Vec<UserView>, ApiError> {
    let accounts = state.accounts()?;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, profile, role FROM read_models.users
         WHERE ($1::bigint IS NULL OR id = $1) AND ($4::bigint IS NULL OR id > $4)
         ORDER BY id LIMIT $2 OFFSET $3",
    )
    .bind(only.map(|u| u.0))
    .bind(page.limit)
    .bind(page.offset)
    .bind(page.after_id)
    .fetch_all(state.pool())
    .await?;
    let ids: Vec<UserId> = rows.iter().map(|(id, ..)| UserId(*id)).collect();
    let keys = accounts.vault.keys(&ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, sealed, role)| {
            let key = keys.get(&UserId(id))?;
            let profile: Profile =
                serde_json::from_str(&key.open(&domain::Sealed(sealed))?).ok()?;
            Some(UserView {
                id,
                username: profile.username,
                email: profile.email,
                role: if role == "admin" {
                    "admin"
                } else {
                    "traveller"
                },
            })
        })
        .collect())
}

/// The username of `user_id`'s account, opened with its `key`; `None` without a profile.
pub(crate) async fn username(
    state: &AppState,
    user_id: UserId,
    key: &auth::DataKey,
) -> Result<Option<String>, ApiError> {
    let sealed: Option<String> =
        sqlx::query_scalar("SELECT profile FROM read_models.users WHERE id = $1")
            .bind(user_id.0)
            .fetch_optional(state.pool())
            .await?;
    Ok(sealed
        .and_then(|sealed| key.open(&domain::Sealed(sealed)))
        .and_then(|profile| serde_json::from_str::<Profile>(&profile).ok())
        .map(|profile| profile.username))
}

/// The origin of a command `caller` asks for: the audit trail records who acted.
fn by(caller: &auth::Caller) -> Origin {
    Origin {
        cause: None,
        actor: Some(caller.user_id),
    }
}

/// Waits (bounded) until the read models show `user_id`'s change at `position`.
async fn shown(state: &AppState, user_id: UserId, position: Option<Position>) {
    if let Some(position) = position {
        state
            .freshness()
            .wait(&user_id.stream(), position, state.read_timeout())
            .await;
    }
}

fn user_error(error: CommandError<UserError>, missing: ApiError) -> ApiError {
    match error {
        CommandError::Rejected(UserError::UserNotFound) => missing,
        CommandError::Rejected(refused @ UserError::UserIdTaken) => {
            ApiError::internal(refused.to_string())
        }
        other => crate::command_failure(other),
    }
}

fn email_error(error: CommandError<EmailError>) -> ApiError {
    match error {
        CommandError::Rejected(EmailError::EmailTaken) => {
            ApiError::Conflict("User already exists".into())
        }
        other => crate::command_failure(other),
    }
}

/// Runs CPU-heavy work (Argon2) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}
