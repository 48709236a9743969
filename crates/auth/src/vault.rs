//! Personal data at rest, and how it is forgotten (crypto-shredding).
//!
//! The event log is append-only, so personal data never enters it readable. Each account has
//! a data key of its own, kept sealed in `accounts.data_keys` (under a key derived from
//! `AUTH_SECRET`, so a copy of the database alone opens nothing); the username, email and
//! traveller names of that account travel in events as [`Sealed`] text under it. Erasing the
//! account deletes its key: every copy of that data, in the log, the read models, the broker or
//! a backup, becomes unreadable at once, while replays still run (they carry the ciphertext
//! along untouched).
//!
//! Emails are also known to the log by an [`EmailKey`]: an HMAC of the normalised address
//! under a key derived from the same secret, so that equal emails meet (uniqueness, login)
//! without the address being stored.

use crate::AuthSecret;
use crate::secret::Sealer;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{EmailKey, Sealed, UserId};
use sqlx::PgPool;
use std::collections::HashMap;

/// HKDF purposes derived from `AUTH_SECRET`: each use gets a key of its own.
const WRAPPING_INFO: &[u8] = b"data-key sealing";
const EMAIL_INFO: &[u8] = b"email keys";
const FINGERPRINT_INFO: &[u8] = b"request fingerprints";

/// Where each account's data key lives, and the email keys.
#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
    wrapping: std::sync::Arc<Sealer>,
    emails: hmac::Key,
    fingerprints: hmac::Key,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// One account's data key: seals its personal data, opens it, and tags it.
pub struct DataKey {
    aead: LessSafeKey,
    mac: hmac::Key,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl Vault {
    pub fn new(pool: PgPool, secret: &AuthSecret) -> Self {
        Self {
            pool,
            wrapping: std::sync::Arc::new(secret.sealer_for(WRAPPING_INFO)),
            emails: secret.mac_for(EMAIL_INFO),
            fingerprints: secret.mac_for(FINGERPRINT_INFO),
        }
    }

    /// A keyed digest of a request, for telling a retry from another request without keeping
    /// the request: unlike a plain hash, nobody holding only the digest can test guesses of
    /// the personal data in it (a traveller's name) against it.
    pub fn fingerprint(&self, request: &[u8]) -> String {
        hex(hmac::sign(&self.fingerprints, request).as_ref())
    }

    /// The key of an email: trimmed and lower-cased first, so that `Ann@X.org ` and
    /// `ann@x.org` are one address.
    pub fn email_key(&self, email: &str) -> EmailKey {
        let normalised = email.trim().to_lowercase();
        EmailKey(hex(hmac::sign(&self.emails, normalised.as_bytes()).as_ref()))
    }

    /// The data key of `user_id`, made now if it has none: a retried registration gets the
    /// key the first attempt made.
    pub async fn create(&self, user_id: UserId) -> Result<DataKey, sqlx::Error> {
        let mut raw = [0u8; 32];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| sqlx::Error::Protocol("the system random source failed".into()))?;
        sqlx::query(
            "INSERT INTO accounts.data_keys (user_id, sealed) VALUES ($1, $2)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.0)
        .bind(self.wrapping.seal(&aad(user_id), &raw))
        .execute(&self.pool)
        .await?;
        self.key(user_id)
            .await?
            .ok_or_else(|| sqlx::Error::Protocol("a data key vanished as it was made".into()))
    }

    /// The data key of `user_id`; `None` once the account is erased (or never had one).
    pub async fn key(&self, user_id: UserId) -> Result<Option<DataKey>, sqlx::Error> {
        Ok(self.keys(&[user_id]).await?.remove(&user_id))
    }

    /// The data keys of `users` that still exist, in one query: what a page of rows from
    /// several accounts needs to open.
    pub async fn keys(&self, users: &[UserId]) -> Result<HashMap<UserId, DataKey>, sqlx::Error> {
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT user_id, sealed FROM accounts.data_keys WHERE user_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, sealed)| {
                let user_id = UserId(id);
                // A key sealed under another secret opens nothing; treat it as gone.
                let raw = self.wrapping.open(&aad(user_id), &sealed).ok()?;
                Some((user_id, DataKey::from_bytes(&raw)?))
            })
            .collect())
    }

    /// Forgets `user_id`'s data key, and with it every piece of their sealed data.
    pub async fn destroy(&self, user_id: UserId) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM accounts.data_keys WHERE user_id = $1")
            .bind(user_id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn aad(user_id: UserId) -> String {
    format!("user:{user_id}")
}

impl DataKey {
    fn from_bytes(raw: &[u8]) -> Option<Self> {
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, raw).ok()?);
        // The tagging key is the data key's own, separated by a label.
        let mac = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, raw), b"tags").as_ref(),
        );
        Some(Self { aead, mac })
    }

    /// `text` sealed: a random nonce and the AES-256-GCM ciphertext, in base64url.
    pub fn seal(&self, text: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        // Without randomness nothing can be sealed safely; the process cannot go on.
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source is available");
        let mut sealed = text.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Sealed(URL_SAFE_NO_PAD.encode(out))
    }

    /// The text `sealed` holds, if this key sealed it.
    pub fn open(&self, sealed: &Sealed) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(&sealed.0).ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let text = self
            .aead
            .open_in_place(nonce, Aad::empty(), &mut in_out)
            .ok()?;
        String::from_utf8(text.to_vec()).ok()
    }

    /// A keyed tag of `text`: equal texts of one account get equal tags, unreadable without
    /// the key, so a rule can compare them (one booking per traveller name) without the name.
    pub fn tag(&self, text: &str) -> String {
        hex(hmac::sign(&self.mac, text.as_bytes()).as_ref())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
