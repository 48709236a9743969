//! A migrated throwaway database and key rings on it; forged-token helpers.

use std::sync::Arc;

use auth::{AuthSecret, KeyRing, KeyRingSettings};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use event_store::testing::TestDatabase;
use sqlx::PgPool;

/// A database with the `auth` schema, and the secret its keys are sealed under.
pub struct Keys {
    pub pool: PgPool,
    pub secret: AuthSecret,
    // Dropped last: the database goes once the pool is closed.
    _database: TestDatabase,
}

impl Keys {
    pub async fn new() -> Self {
        let database = TestDatabase::create().await;
        let pool = database.pool(5).await;
        auth::migrate(&pool).await.expect("auth migrations");
        Self {
            pool,
            secret: secret(1),
            _database: database,
        }
    }

    /// A ring on this database, as one instance would load it at start-up.
    pub async fn ring(&self) -> Arc<KeyRing> {
        self.ring_with(KeyRingSettings::default()).await
    }

    pub async fn ring_with(&self, settings: KeyRingSettings) -> Arc<KeyRing> {
        Arc::new(
            KeyRing::load(self.pool.clone(), &self.secret, settings)
                .await
                .expect("load the key ring"),
        )
    }

    pub async fn key_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM auth.signing_keys")
            .fetch_one(&self.pool)
            .await
            .expect("count keys")
    }
}

/// A 32-byte secret made of `fill`.
pub fn secret(fill: u8) -> AuthSecret {
    AuthSecret::new(vec![fill; 32]).expect("long enough")
}

/// A compact JWT from a header and payload given as JSON, with `signature` (base64url) as is.
pub fn compact(header: &serde_json::Value, payload: &serde_json::Value, signature: &str) -> String {
    let part = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.{signature}", part(header), part(payload))
}

/// The JSON parts of a compact JWT, and its signature.
pub fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
    let mut parts = token.split('.');
    let mut json = || {
        let part = parts.next().expect("a part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let (header, payload) = (json(), json());
    (
        header,
        payload,
        parts.next().expect("a signature").to_owned(),
    )
}
