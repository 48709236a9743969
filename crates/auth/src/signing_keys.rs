//! The shared key store: `auth.signing_keys`, one row per Ed25519 key, its private half sealed
//! under the server secret, and the snapshot of it a key ring holds in memory. Every statement
//! the ring runs is here, each named for its intent. Writers take one advisory lock, so two
//! instances starting at once create one first key, and two rotations run one after the other.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sqlx::{PgConnection, PgPool};

use crate::KeyRingError;
use crate::secret::Sealer;

/// One snapshot of the table: the signer and every key that may verify.
pub(crate) struct Keys {
    pub signer_kid: String,
    pub signer: EncodingKey,
    pub verifiers: Vec<Verifier>,
}

/// A public key, and until when it verifies (`None`: it is, or was at load, the signer).
pub(crate) struct Verifier {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub key: DecodingKey,
    pub retire_after: Option<DateTime<Utc>>,
}

impl Verifier {
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.retire_after.is_none_or(|retire| now < retire)
    }
}

/// A row as stored: the private key still sealed.
#[derive(sqlx::FromRow)]
struct StoredKey {
    kid: String,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    retire_after: Option<DateTime<Utc>>,
}

/// Reads the current keys and opens the signer's private half.
pub(crate) async fn read(pool: &PgPool, sealer: &Sealer) -> Result<Keys, KeyRingError> {
    let rows = load_current(pool).await?;
    let signer = rows
        .iter()
        .rfind(|row| row.retire_after.is_none())
        .ok_or(KeyRingError::NoSigner)?;
    let signer_key = open_signer(signer, sealer)?;
    let verifiers = rows.iter().map(verifier).collect::<Result<_, _>>()?;
    Ok(Keys {
        signer_kid: signer.kid.clone(),
        signer: signer_key,
        verifiers,
    })
}

/// The signer's private key, checked against the public key stored beside it.
fn open_signer(row: &StoredKey, sealer: &Sealer) -> Result<EncodingKey, KeyRingError> {
    let pkcs8 = sealer
        .open(&row.kid, &row.private_key)
        .map_err(|_| KeyRingError::WrongSecret {
            kid: row.kid.clone(),
        })?;
    let corrupt = || KeyRingError::Corrupt {
        kid: row.kid.clone(),
    };
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| corrupt())?;
    if pair.public_key().as_ref() != row.public_key.as_slice() {
        return Err(corrupt());
    }
    Ok(EncodingKey::from_ed_der(&pkcs8))
}

fn verifier(row: &StoredKey) -> Result<Verifier, KeyRingError> {
    if row.public_key.len() != 32 {
        return Err(KeyRingError::Corrupt {
            kid: row.kid.clone(),
        });
    }
    Ok(Verifier {
        kid: row.kid.clone(),
        public_key: row.public_key.clone(),
        key: DecodingKey::from_ed_der(&row.public_key),
        retire_after: row.retire_after,
    })
}

/// Every key still valid for verification, oldest first: those not retired, and those whose
/// retirement lies ahead (tokens they signed may still be live).
async fn load_current(pool: &PgPool) -> Result<Vec<StoredKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, private_key, public_key, retire_after FROM auth.signing_keys
         WHERE retire_after IS NULL OR retire_after > now()
         ORDER BY created_at, kid",
    )
    .fetch_all(pool)
    .await
}

/// Creates a signing key unless one that is not retiring exists. Safe when several instances
/// start at once: the lock makes the second wait and then find the first one's key.
pub(crate) async fn ensure_signer(pool: &PgPool, sealer: &Sealer) -> Result<(), KeyRingError> {
    let mut tx = pool.begin().await?;
    lock_keys(&mut tx).await?;
    let has_signer: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM auth.signing_keys WHERE retire_after IS NULL)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !has_signer {
        insert_new_key(&mut tx, sealer).await?;
    }
    Ok(tx.commit().await?)
}

/// Adds a new key, which becomes the signer, and schedules every earlier signer to retire
/// `grace` from now (by the database's clock, which all instances share). Keys whose
/// retirement has passed are deleted: nothing verifies with them any more. Returns the new kid.
pub(crate) async fn rotate(
    pool: &PgPool,
    sealer: &Sealer,
    grace: std::time::Duration,
) -> Result<String, KeyRingError> {
    let mut tx = pool.begin().await?;
    lock_keys(&mut tx).await?;
    sqlx::query("DELETE FROM auth.signing_keys WHERE retire_after <= now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE auth.signing_keys SET retire_after = now() + make_interval(secs => $1)
         WHERE retire_after IS NULL",
    )
    .bind(grace.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    let kid = insert_new_key(&mut tx, sealer).await?;
    tx.commit().await?;
    Ok(kid)
}

/// Serialises the writers of the key table for the rest of the transaction.
async fn lock_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// Generates an Ed25519 key and stores it sealed. Its kid is a UUID v7, so kids sort by age.
async fn insert_new_key(conn: &mut PgConnection, sealer: &Sealer) -> Result<String, KeyRingError> {
    let kid = uuid::Uuid::now_v7().to_string();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyRingError::KeyGeneration)?;
    let public_key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| KeyRingError::KeyGeneration)?
        .public_key()
        .as_ref()
        .to_vec();
    sqlx::query("INSERT INTO auth.signing_keys (kid, private_key, public_key) VALUES ($1, $2, $3)")
        .bind(&kid)
        .bind(sealer.seal(&kid, pkcs8.as_ref()))
        .bind(public_key)
        .execute(conn)
        .await?;
    Ok(kid)
}
