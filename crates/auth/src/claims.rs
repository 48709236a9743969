//! What an access token says about its holder, and how that reads on the wire. The public
//! [`Claims`] has typed fields; the JSON shape (`sub`, `role`, `sid`, `iat`, `exp`, `iss`) lives
//! in a private wire type, so the token format is decided in one place.

use chrono::{DateTime, Utc};
use domain::{Role, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every token this stack signs names it as issuer, and verification refuses any other.
pub const ISSUER: &str = "booking";

/// The verified content of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user's id (`sub`, written as a decimal string: RFC 7519 makes `sub` a string).
    pub user_id: UserId,
    pub role: Role,
    /// The login this token belongs to (`sid`): the family of its refresh tokens, so that
    /// revoking a login can be checked against it.
    pub session: Uuid,
    /// Seconds since the Unix epoch (`iat`).
    pub issued_at: i64,
    /// Seconds since the Unix epoch (`exp`); verification allows [`crate::LEEWAY`] past it.
    pub expires_at: i64,
}

impl Claims {
    /// Claims for a token issued at `now` that lives for `lifetime`.
    pub fn new(
        user_id: UserId,
        role: Role,
        session: Uuid,
        now: DateTime<Utc>,
        lifetime: std::time::Duration,
    ) -> Self {
        let issued_at = now.timestamp();
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Self {
            user_id,
            role,
            session,
            issued_at,
            expires_at: issued_at.saturating_add(lifetime),
        }
    }
}

/// The JSON payload. `exp` and `iat` are typed integers, so a token whose `exp` is a string
/// (the type confusion that let old jsonwebtoken releases skip the check) fails to decode.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireClaims {
    sub: String,
    role: Role,
    sid: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
}

impl From<&Claims> for WireClaims {
    fn from(claims: &Claims) -> Self {
        Self {
            sub: claims.user_id.0.to_string(),
            role: claims.role,
            sid: claims.session,
            iat: claims.issued_at,
            exp: claims.expires_at,
            iss: ISSUER.to_owned(),
        }
    }
}

impl TryFrom<WireClaims> for Claims {
    /// The `sub` is not a user id.
    type Error = std::num::ParseIntError;

    fn try_from(wire: WireClaims) -> Result<Self, Self::Error> {
        Ok(Self {
            user_id: UserId(wire.sub.parse()?),
            role: wire.role,
            session: wire.sid,
            issued_at: wire.iat,
            expires_at: wire.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_read_on_the_wire_as_the_contract_names_them() {
        let session = Uuid::now_v7();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let claims = Claims::new(
            UserId(42),
            Role::Admin,
            session,
            now,
            std::time::Duration::from_secs(900),
        );

        let wire = serde_json::to_value(WireClaims::from(&claims)).expect("serialises");

        assert_eq!(
            wire,
            json!({
                "sub": "42", "role": "admin", "sid": session.to_string(),
                "iat": 1_800_000_000, "exp": 1_800_000_900, "iss": "booking",
            })
        );
        let back: WireClaims = serde_json::from_value(wire).expect("reads back");
        assert_eq!(Claims::try_from(back).ok(), Some(claims));
    }

    #[test]
    fn an_expiry_written_as_a_string_does_not_decode() {
        let payload = json!({
            "sub": "1", "role": "traveller", "sid": Uuid::nil().to_string(),
            "iat": 0, "exp": "never", "iss": "booking",
        });
        assert!(serde_json::from_value::<WireClaims>(payload).is_err());
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        let wire: WireClaims = serde_json::from_value(json!({
            "sub": "alice", "role": "traveller", "sid": Uuid::nil().to_string(),
            "iat": 0, "exp": 1, "iss": "booking",
        }))
        .expect("well-formed JSON");
        assert!(Claims::try_from(wire).is_err());
    }

    #[test]
    fn a_token_with_an_unknown_role_does_not_decode() {
        let payload = |role: &str| {
            json!({
                "sub": "1", "role": role, "sid": Uuid::nil().to_string(),
                "iat": 0, "exp": 1, "iss": "booking",
            })
        };
        assert!(serde_json::from_value::<WireClaims>(payload("root")).is_err());
        assert!(serde_json::from_value::<WireClaims>(payload("traveller")).is_ok());
    }
}
