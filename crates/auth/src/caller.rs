//! Who is calling: extractors that read and verify the access token of a request. Any service
//! whose state holds an `Arc<KeyRing>` (reachable through `FromRef`) can take a [`Caller`], an
//! [`Admin`] or, on a websocket upgrade, a [`SocketCaller`] as a handler argument; a missing or
//! refused token answers 401 `Not authenticated` with `WWW-Authenticate: Bearer`, a caller who
//! is not an admin 403 `Not allowed`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::{Role, UserId};
use http_kit::ApiError;
use serde::Deserialize;
use uuid::Uuid;

use crate::{Claims, KeyRing};

/// The holder of a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub role: Role,
    /// The login the token belongs to (its refresh-token family).
    pub session: Uuid,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl From<Claims> for Caller {
    fn from(claims: Claims) -> Self {
        Self {
            user_id: claims.user_id,
            role: claims.role,
            session: claims.session,
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Arc<KeyRing>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::NotAuthenticated)?;
        authenticate(&Arc::<KeyRing>::from_ref(state), token).await
    }
}

/// A caller who is an admin: 401 without a valid token, 403 with a traveller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    Arc<KeyRing>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden);
        }
        Ok(Self(caller))
    }
}

/// The caller of a websocket upgrade. Browsers cannot set headers on one, so the token may
/// also come as `?access_token=`; the header wins when both are there. Only upgrades take this
/// extractor: a token in a URL ends up in access logs, so plain requests must not accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketCaller(pub Caller);

#[derive(Deserialize)]
struct AccessTokenQuery {
    access_token: Option<String>,
}

impl<S> FromRequestParts<S> for SocketCaller
where
    Arc<KeyRing>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ring = Arc::<KeyRing>::from_ref(state);
        let token = socket_token(parts).ok_or(ApiError::NotAuthenticated)?;
        Ok(Self(authenticate(&ring, &token).await?))
    }
}

/// The token of a websocket upgrade: the `Authorization: Bearer` header's, or else a non-empty
/// `?access_token=`.
pub(crate) fn socket_token(parts: &Parts) -> Option<String> {
    if let Some(token) = bearer_token(&parts.headers) {
        return Some(token.to_owned());
    }
    let query = Query::<AccessTokenQuery>::try_from_uri(&parts.uri).ok()?;
    query.0.access_token.filter(|token| !token.is_empty())
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, as
/// RFC 7235 allows), or `None` when there is none or it has another scheme.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller `token` names, if `ring` verifies it; 401 `Not authenticated` otherwise. For a
/// service whose state cannot hand out the ring through `FromRef` (accounts may be off).
pub async fn authenticate(ring: &KeyRing, token: &str) -> Result<Caller, ApiError> {
    match ring.verify(token).await {
        Ok(claims) => Ok(claims.into()),
        Err(refusal) => {
            // The reason only, never the token: it is a credential.
            tracing::debug!(reason = %refusal, "access token refused");
            Err(ApiError::NotAuthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(authorization).expect("a header value"),
        );
        headers
    }

    #[test]
    fn a_bearer_header_gives_its_token() {
        assert_eq!(
            bearer_token(&headers("Bearer abc.def.ghi")),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_give_none() {
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&headers("Bearerabc")), None);
    }
}
