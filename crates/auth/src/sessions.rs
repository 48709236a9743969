//! Logins and what they keep beside the log: password hashes (`accounts.credentials`) and
//! refresh-token families (`accounts.refresh_tokens`).
//!
//! A login starts a family, named by the session id that its access tokens carry (`sid`).
//! Each refresh spends the presented token and adds the next one to the family, in one
//! transaction that locks the presented row, so two concurrent refreshes with one token cannot
//! both succeed. A token presented after it was spent means it was copied: the whole family is
//! revoked (theft detection), which signs out the thief and the holder alike.

use crate::refresh_token::{digest, new_refresh_token};
use chrono::{DateTime, Utc};
use domain::UserId;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// The password hashes and refresh-token families of every account.
#[derive(Clone, Debug)]
pub struct Sessions {
    pool: PgPool,
    refresh_lifetime: Duration,
}

/// A refresh token to hand to the client, and the login it renews.
pub struct Renewal {
    pub user_id: UserId,
    pub session: Uuid,
    /// The new token: give it to the client, it is stored only as a digest.
    pub refresh_token: String,
}

// The token is a bearer secret: it never prints.
impl std::fmt::Debug for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewal")
            .field("user_id", &self.user_id)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Why a refresh token renews nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No such token, or it expired, or its family was revoked.
    Unknown,
    /// It was spent before: its family is now revoked.
    Reused,
}

impl Sessions {
    pub fn new(pool: PgPool, refresh_lifetime: Duration) -> Self {
        Self {
            pool,
            refresh_lifetime,
        }
    }

    /// The stored password hash of `user_id`, if it has one.
    pub async fn password_hash(&self, user_id: UserId) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT password_hash FROM accounts.credentials WHERE user_id = $1")
            .bind(user_id.0)
            .fetch_optional(&self.pool)
            .await
    }

    /// Sets `user_id`'s password hash (a PHC string from [`crate::hash_password`]).
    pub async fn set_password_hash(&self, user_id: UserId, hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO accounts.credentials (user_id, password_hash) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
                 updated_at = now()",
        )
        .bind(user_id.0)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Starts a login: a new family with its first refresh token.
    pub async fn start(&self, user_id: UserId) -> Result<Renewal, sqlx::Error> {
        let session = Uuid::now_v7();
        let refresh_token = self.add(&self.pool, user_id, session).await?;
        Ok(Renewal {
            user_id,
            session,
            refresh_token,
        })
    }

    /// Spends `token` and hands out the next one of its family.
    pub async fn renew(&self, token: &str) -> Result<Result<Renewal, Refused>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT family, user_id, expires_at, spent_at, revoked_at
             FROM accounts.refresh_tokens WHERE digest = $1 FOR UPDATE",
        )
        .bind(digest(token).as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(TokenRow {
            family,
            user_id,
            expires_at,
            spent_at,
            revoked_at,
        }) = row
        else {
            return Ok(Err(Refused::Unknown));
        };
        if revoked_at.is_some() || expires_at <= Utc::now() {
            return Ok(Err(Refused::Unknown));
        }
        if spent_at.is_some() {
            revoke_family(&mut tx, family).await?;
            tx.commit().await?;
            tracing::warn!(session = %family, "a spent refresh token came back; its login is revoked");
            return Ok(Err(Refused::Reused));
        }
        sqlx::query("UPDATE accounts.refresh_tokens SET spent_at = now() WHERE digest = $1")
            .bind(digest(token).as_slice())
            .execute(&mut *tx)
            .await?;
        let user_id = UserId(user_id);
        let refresh_token = self.add(&mut *tx, user_id, family).await?;
        tx.commit().await?;
        Ok(Ok(Renewal {
            user_id,
            session: family,
            refresh_token,
        }))
    }

    /// Ends the login `token` belongs to; `false` if it names no live login.
    pub async fn end(&self, token: &str) -> Result<bool, sqlx::Error> {
        let family: Option<Uuid> = sqlx::query_scalar(
            "SELECT family FROM accounts.refresh_tokens
             WHERE digest = $1 AND revoked_at IS NULL AND expires_at > now()",
        )
        .bind(digest(token).as_slice())
        .fetch_optional(&self.pool)
        .await?;
        let Some(family) = family else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await?;
        revoke_family(&mut tx, family).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the login `session` is still live: not revoked, with a token not yet expired.
    pub async fn is_live(&self, session: Uuid) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM accounts.refresh_tokens
             WHERE family = $1 AND revoked_at IS NULL AND expires_at > now())",
        )
        .bind(session)
        .fetch_one(&self.pool)
        .await
    }

    /// Ends every login of `user_id` but `keep` (the one changing the password, say).
    pub async fn end_all_but(
        &self,
        user_id: UserId,
        keep: Option<Uuid>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE accounts.refresh_tokens SET revoked_at = now()
             WHERE user_id = $1 AND revoked_at IS NULL AND family IS DISTINCT FROM $2",
        )
        .bind(user_id.0)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets everything kept for `user_id`: its password hash and every login.
    pub async fn forget(&self, user_id: UserId) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for table in ["accounts.credentials", "accounts.refresh_tokens"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    async fn add<'e>(
        &self,
        executor: impl sqlx::PgExecutor<'e>,
        user_id: UserId,
        family: Uuid,
    ) -> Result<String, sqlx::Error> {
        let (token, digest) = new_refresh_token();
        let lifetime =
            chrono::Duration::from_std(self.refresh_lifetime).unwrap_or(chrono::Duration::days(30));
        sqlx::query(
            "INSERT INTO accounts.refresh_tokens (digest, family, user_id, expires_at)
             VALUES ($1, $2, $3, now() + $4)",
        )
        .bind(digest.as_slice())
        .bind(family)
        .bind(user_id.0)
        .bind(lifetime)
        .execute(executor)
        .await?;
        Ok(token)
    }
}

/// A refresh token's row, as a refresh reads it.
#[derive(sqlx::FromRow)]
struct TokenRow {
    family: Uuid,
    user_id: i64,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

async fn revoke_family(tx: &mut sqlx::PgConnection, family: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts.refresh_tokens SET revoked_at = now()
         WHERE family = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(tx)
    .await?;
    Ok(())
}
