//! Who sends a request, from its `Authorization: Bearer` token, checked against the key ring
//! every instance shares. A missing or refused token is 401; a traveller where only admins
//! may go is 403.

use crate::AppState;
use auth::Caller;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use http_kit::ApiError;

/// A signed-in caller.
pub(crate) struct SignedCaller(pub Caller);

/// A signed-in admin.
pub(crate) struct AdminCaller(pub Caller);

impl FromRequestParts<AppState> for SignedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let accounts = state.accounts()?;
        let token = auth::bearer_token(&parts.headers).ok_or(ApiError::NotAuthenticated)?;
        Ok(Self(auth::authenticate(&accounts.ring, token).await?))
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let SignedCaller(caller) = SignedCaller::from_request_parts(parts, state).await?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden);
        }
        Ok(Self(caller))
    }
}
