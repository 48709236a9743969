//! The door of the seed-000 paths (trains, bookings, lobbies): with `AUTH=required` a caller
//! must show a valid token (and be an admin where the schedule changes); with `AUTH=off` the
//! paths stay open to anyone, as they were before accounts, for old clients and demos.
//!
//! Both services keep one [`Door`] in their state and take [`Access`], [`AdminAccess`] or, on a
//! websocket upgrade, [`SocketAccess`] as handler arguments.

use crate::caller::{authenticate, bearer_token, socket_token};
use crate::{Caller, KeyRing};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use domain::UserId;
use http_kit::ApiError;
use std::sync::Arc;

/// Whether the seed-000 paths require a token (`AUTH`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Trains and lobbies change only for admins; bookings belong to the signed-in traveller.
    #[default]
    Required,
    /// Insecure: anyone may do anything on the seed-000 paths, without a token.
    Off,
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "required" => Ok(Self::Required),
            "off" => Ok(Self::Off),
            _ => Err("expected `required` or `off`".into()),
        }
    }
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Required => "required",
            Self::Off => "off",
        })
    }
}

/// `AUTH=required` without a key ring: nobody could ever sign in.
#[derive(Debug, thiserror::Error)]
#[error("AUTH=required needs AUTH_SECRET (or AUTH=off, which leaves every path open)")]
pub struct NoKeyRing;

/// How a service lets callers in.
#[derive(Debug)]
pub enum Door {
    Required(Arc<KeyRing>),
    Off,
}

impl Door {
    /// The door for `mode`; `ring` is the service's key ring when accounts are configured.
    pub fn new(mode: AuthMode, ring: Option<Arc<KeyRing>>) -> Result<Self, NoKeyRing> {
        match (mode, ring) {
            (AuthMode::Off, _) => Ok(Self::Off),
            (AuthMode::Required, Some(ring)) => Ok(Self::Required(ring)),
            (AuthMode::Required, None) => Err(NoKeyRing),
        }
    }

    /// Who `token` names, through this door: anyone when it is off.
    async fn enter(&self, token: Option<&str>) -> Result<Access, ApiError> {
        match self {
            Self::Off => Ok(Access::Open),
            Self::Required(ring) => {
                let token = token.ok_or(ApiError::NotAuthenticated)?;
                Ok(Access::Signed(authenticate(ring, token).await?))
            }
        }
    }
}

/// Who came through the door: anyone (`AUTH=off`) or a signed-in caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Signed(Caller),
}

impl Access {
    /// The signed-in caller, if there is one.
    pub fn caller(&self) -> Option<&Caller> {
        match self {
            Self::Open => None,
            Self::Signed(caller) => Some(caller),
        }
    }

    /// The acting user, for the audit trail of what this request records.
    pub fn actor(&self) -> Option<UserId> {
        self.caller().map(|caller| caller.user_id)
    }

    /// Whether this caller may see or change something `owner` holds: anyone through an open
    /// door, an admin, or the owner.
    pub fn may_touch(&self, owner: Option<UserId>) -> bool {
        match self {
            Self::Open => true,
            Self::Signed(caller) => caller.is_admin() || owner == Some(caller.user_id),
        }
    }

    /// `None` for a caller who sees everything (an open door, an admin); the caller's id for a
    /// traveller, who sees only their own.
    pub fn only_own(&self) -> Option<UserId> {
        match self {
            Self::Signed(caller) if !caller.is_admin() => Some(caller.user_id),
            _ => None,
        }
    }
}

impl<S> FromRequestParts<S> for Access
where
    Arc<Door>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// A layer that has let the caller in already (the idempotency layer does, to key its
    /// replies by caller) leaves the `Access` in the request: the token is verified once.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(access) = parts.extensions.get::<Access>() {
            return Ok(*access);
        }
        let door = Arc::<Door>::from_ref(state);
        door.enter(bearer_token(&parts.headers)).await
    }
}

/// Access where only admins may go when the door is shut: 401 without a token, 403 with a
/// traveller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminAccess(pub Access);

impl<S> FromRequestParts<S> for AdminAccess
where
    Arc<Door>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let access = Access::from_request_parts(parts, state).await?;
        match access.caller() {
            Some(caller) if !caller.is_admin() => Err(ApiError::Forbidden),
            _ => Ok(Self(access)),
        }
    }
}

/// Who looks at a public path: the signed-in caller when a token comes with the request (a
/// bad one is a 401, not silently ignored), nobody otherwise or when the door is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor(pub Option<Caller>);

impl<S> FromRequestParts<S> for Visitor
where
    Arc<Door>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let door = Arc::<Door>::from_ref(state);
        match (door.as_ref(), bearer_token(&parts.headers)) {
            (Door::Required(ring), Some(token)) => Ok(Self(Some(authenticate(ring, token).await?))),
            _ => Ok(Self(None)),
        }
    }
}

/// Access on a websocket upgrade: the token may also come as `?access_token=`, since browsers
/// cannot set headers on one (the header wins). A refusal is an HTTP 401, before the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAccess(pub Access);

impl<S> FromRequestParts<S> for SocketAccess
where
    Arc<Door>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let door = Arc::<Door>::from_ref(state);
        Ok(Self(door.enter(socket_token(parts).as_deref()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Role;

    fn signed(user: i64, role: Role) -> Access {
        Access::Signed(Caller {
            user_id: UserId(user),
            role,
            session: uuid::Uuid::nil(),
        })
    }

    #[test]
    fn a_traveller_touches_only_their_own() {
        let traveller = signed(7, Role::Traveller);
        assert!(traveller.may_touch(Some(UserId(7))));
        assert!(!traveller.may_touch(Some(UserId(8))));
        assert!(!traveller.may_touch(None));
        assert_eq!(traveller.only_own(), Some(UserId(7)));
    }

    #[test]
    fn an_admin_and_an_open_door_touch_everything() {
        for access in [signed(1, Role::Admin), Access::Open] {
            assert!(access.may_touch(Some(UserId(7))));
            assert!(access.may_touch(None));
            assert_eq!(access.only_own(), None);
        }
    }

    #[test]
    fn auth_mode_reads_its_two_words_only() {
        assert_eq!("required".parse(), Ok(AuthMode::Required));
        assert_eq!("off".parse(), Ok(AuthMode::Off));
        assert!("Off".parse::<AuthMode>().is_err());
        assert!("".parse::<AuthMode>().is_err());
    }

    #[test]
    fn required_without_a_key_ring_is_refused() {
        assert!(Door::new(AuthMode::Required, None).is_err());
        assert!(matches!(Door::new(AuthMode::Off, None), Ok(Door::Off)));
    }
}
