//! The key ring: the Ed25519 keys that sign and verify access tokens, loaded from the table
//! every instance shares (`auth.signing_keys`). Any instance verifies what any other
//! signed, a restart keeps the keys, and a rotation retires the old signer only once the last
//! token it could have signed has expired.
//!
//! Verification runs no query in the common case; only a `kid` the ring does not
//! know sends it back to the database, at most once per [`RELOAD_UNKNOWN_KID_EVERY`], so a
//! key another instance has just rotated in is accepted while an attacker's random kids cost
//! one query per few seconds, not one per request.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain::{Role, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Claims;
use crate::claims::{ISSUER, WireClaims};
use crate::secret::{AuthSecret, Sealer};
use crate::signing_keys::{self, Keys};

/// How far past `exp` a token is still accepted: clocks of the instances (and the database's,
/// which schedules retirements) drift by a few seconds, and a token should not fail between
/// the gateway and the command API. Short enough that it barely lengthens a token's life.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The least time between two reloads caused by unknown kids.
pub const RELOAD_UNKNOWN_KID_EVERY: Duration = Duration::from_secs(5);

/// How the ring issues and refreshes.
#[derive(Debug, Clone)]
pub struct KeyRingSettings {
    /// How long an access token lives (15 minutes by default).
    pub token_lifetime: Duration,
    /// How often [`KeyRing::keep_fresh`] re-reads the key table, so that an instance signs
    /// with the newest key soon after another one rotated (every minute by default).
    pub refresh_every: Duration,
}

impl Default for KeyRingSettings {
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(15 * 60),
            refresh_every: Duration::from_secs(60),
        }
    }
}

impl KeyRingSettings {
    /// How long a replaced signer keeps verifying: a token it signed just before the rotation
    /// lives `token_lifetime` plus the leeway, and an instance that has not yet refreshed may
    /// sign with it for up to `refresh_every` more.
    pub fn retirement_grace(&self) -> Duration {
        self.token_lifetime + LEEWAY + self.refresh_every
    }
}

/// The key store could not be read or written, or its content does not fit this instance.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("the signing-key store failed")]
    Database(#[from] sqlx::Error),
    #[error(
        "AUTH_SECRET does not open signing key {kid}: it differs from the secret that sealed it"
    )]
    WrongSecret { kid: String },
    #[error("signing key {kid} is corrupt")]
    Corrupt { kid: String },
    #[error("the key store holds no signing key (rows deleted by hand?); a restart creates one")]
    NoSigner,
    #[error("the system could not generate an Ed25519 key")]
    KeyGeneration,
}

/// Why a token is refused. Each answers 401; the variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a readable header. A header with `alg: none` lands here:
    /// no algorithm this crate knows is called that.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    /// No `kid`, or one no current key has (never issued, or retired).
    #[error("the token names no current key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Signed by us but not ours to accept: another issuer, a missing or mistyped claim.
    #[error("the token's claims are not acceptable")]
    InvalidClaims,
    #[error("the token has expired")]
    Expired,
}

/// A token could not be signed: the signer's key no longer parses.
#[derive(Debug, thiserror::Error)]
#[error("could not sign an access token")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// The keys every instance shares; cheap to share behind an `Arc` in the app state.
pub struct KeyRing {
    pool: PgPool,
    sealer: Sealer,
    settings: KeyRingSettings,
    keys: RwLock<Arc<Keys>>,
    /// When an unknown kid last sent the ring to the database, by the verifier's clock.
    last_unknown_kid_reload: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.snapshot();
        f.debug_struct("KeyRing")
            .field("signer", &keys.signer_kid)
            .field(
                "verifiers",
                &keys.verifiers.iter().map(|v| &v.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads every current key, creating the first one if the table has none (or none that is
    /// not retiring). Fails if `secret` does not open the signer: instances must share it.
    pub async fn load(
        pool: PgPool,
        secret: &AuthSecret,
        settings: KeyRingSettings,
    ) -> Result<Self, KeyRingError> {
        let sealer = secret.sealer();
        signing_keys::ensure_signer(&pool, &sealer).await?;
        let keys = signing_keys::read(&pool, &sealer).await?;
        Ok(Self {
            pool,
            sealer,
            settings,
            keys: RwLock::new(Arc::new(keys)),
            last_unknown_kid_reload: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &KeyRingSettings {
        &self.settings
    }

    /// The kid that signs new tokens.
    pub fn signing_kid(&self) -> String {
        self.snapshot().signer_kid.clone()
    }

    /// Re-reads the table: learns keys other instances added, the signer a rotation chose,
    /// and retirements. On failure the ring keeps the keys it had.
    pub async fn refresh(&self) -> Result<(), KeyRingError> {
        let keys = signing_keys::read(&self.pool, &self.sealer).await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(())
    }

    /// Refreshes every [`KeyRingSettings::refresh_every`] until `shutdown`. A failed refresh
    /// is logged and the old keys kept; the next tick tries again.
    pub async fn keep_fresh(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.refresh_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.refresh().await {
                tracing::warn!(
                    error = ?error,
                    "could not refresh the signing keys; keeping the loaded ones"
                );
            }
        }
    }

    /// Adds a new signing key and retires the previous signer after
    /// [`KeyRingSettings::retirement_grace`], then reloads this ring. Other instances verify
    /// the new key at once (an unknown kid reloads) and sign with it after their next refresh.
    /// Returns the new kid.
    pub async fn rotate(&self) -> Result<String, KeyRingError> {
        let kid = signing_keys::rotate(&self.pool, &self.sealer, self.settings.retirement_grace())
            .await?;
        self.refresh().await?;
        Ok(kid)
    }

    /// Signs a token for `user_id` issued at `now`, living [`KeyRingSettings::token_lifetime`].
    pub fn issue(
        &self,
        user_id: UserId,
        role: Role,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<String, SignError> {
        self.sign(&Claims::new(
            user_id,
            role,
            session,
            now,
            self.settings.token_lifetime,
        ))
    }

    /// Signs `claims` with the newest key, naming it in the header's `kid`.
    pub fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let keys = self.snapshot();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signer_kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            &WireClaims::from(claims),
            &keys.signer,
        )?)
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, Utc::now()).await
    }

    /// Verifies `token` as of `now`: EdDSA only, a kid valid at `now`, the signature, the
    /// issuer, and `exp` no more than [`LEEWAY`] ago.
    pub async fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match self.verifying_key(&kid, now) {
            Some(key) => key,
            None => {
                self.reload_for_unknown_kid(now).await;
                self.verifying_key(&kid, now)
                    .ok_or(TokenError::UnknownKey)?
            }
        };
        let wire = jsonwebtoken::decode::<WireClaims>(token, &key, &validation())
            .map_err(|e| refusal(e.kind()))?
            .claims;
        let claims = Claims::try_from(wire).map_err(|_| TokenError::InvalidClaims)?;
        let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(i64::MAX);
        if now.timestamp() > claims.expires_at.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The public keys that verify tokens now, as a JSON Web Key Set for
    /// `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        self.jwks_at(Utc::now())
    }

    /// The JWKS as of `now`: a key whose retirement has passed is left out.
    pub fn jwks_at(&self, now: DateTime<Utc>) -> serde_json::Value {
        let keys = self.snapshot();
        let keys: Vec<_> = keys
            .verifiers
            .iter()
            .filter(|v| v.valid_at(now))
            .map(|v| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "kid": v.kid,
                    "x": URL_SAFE_NO_PAD.encode(&v.public_key),
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    fn snapshot(&self) -> Arc<Keys> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn verifying_key(&self, kid: &str, now: DateTime<Utc>) -> Option<DecodingKey> {
        self.snapshot()
            .verifiers
            .iter()
            .find(|v| v.kid == kid && v.valid_at(now))
            .map(|v| v.key.clone())
    }

    /// Reloads unless an unknown kid already did within [`RELOAD_UNKNOWN_KID_EVERY`]. The slot
    /// is claimed before the query, so concurrent requests with unknown kids reload once. A
    /// clock that went backwards also allows a reload, rather than none until it catches up.
    async fn reload_for_unknown_kid(&self, now: DateTime<Utc>) {
        {
            let mut last = self
                .last_unknown_kid_reload
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let throttled = last.is_some_and(|last| {
                now >= last
                    && (now - last)
                        .to_std()
                        .is_ok_and(|e| e < RELOAD_UNKNOWN_KID_EVERY)
            });
            if throttled {
                return;
            }
            *last = Some(now);
        }
        if let Err(error) = self.refresh().await {
            tracing::warn!(
                error = ?error,
                "could not reload the signing keys for an unknown kid"
            );
        }
    }
}

/// What jsonwebtoken checks for us. `exp` is checked by the caller against its own clock
/// (jsonwebtoken reads the system clock, which tests cannot set), but must be present.
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation
}

fn refusal(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => TokenError::WrongAlgorithm,
        ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::InvalidSubject
        | ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Json(_) => TokenError::InvalidClaims,
        _ => TokenError::Malformed,
    }
}
