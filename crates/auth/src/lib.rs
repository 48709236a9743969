//! Identity every service shares: access tokens (EdDSA JWTs) signed and verified with a
//! [`KeyRing`] kept in PostgreSQL, Argon2id password hashes, refresh-token digests, the
//! extractors that turn a request's token into a [`Caller`], and the [`Vault`] of each
//! account's data key, which seals its personal data and is destroyed when it is erased.
//!
//! It is its own crate because both the gateway and the command API verify tokens, and neither
//! may import the other. It holds no users: accounts live in the event store (the domain's
//! `User`, whose `Role` and `UserId` the tokens carry); this crate only knows how to prove who
//! someone is once an account has said so.

mod caller;
mod claims;
mod door;
mod key_ring;
mod password;
mod refresh_token;
mod secret;
mod sessions;
mod signing_keys;
mod vault;

pub use caller::{Admin, Caller, SocketCaller, authenticate, bearer_token};
pub use claims::{Claims, ISSUER};
pub use door::{Access, AdminAccess, AuthMode, Door, NoKeyRing, SocketAccess, Visitor};
pub use key_ring::{
    KeyRing, KeyRingError, KeyRingSettings, LEEWAY, RELOAD_UNKNOWN_KID_EVERY, SignError, TokenError,
};
pub use password::{DUMMY_HASH, hash_password, verify_or_dummy, verify_password};
pub use refresh_token::{digest, new_refresh_token};
pub use secret::{AuthSecret, MIN_SECRET_LEN, SecretTooShort};
pub use sessions::{Refused, Renewal, Sessions};
pub use vault::{DataKey, Vault};

use sqlx::PgPool;

/// This crate's migrations (the signing keys, and what accounts keep beside the log). Several crates migrate the same database
/// with version numbers that never collide, so each ignores the others' entries in the history.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or upgrades the `auth` schema, for every role that signs or verifies tokens.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}
