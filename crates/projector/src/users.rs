//! The users read model: one row per account, for the admins' list. The profile stays sealed
//! (see the migration), so the rows hold no readable personal data and a replay after an
//! erasure rebuilds exactly what the live model holds. Account events are rare, so they are
//! applied one by one, in order. It reads the train streams too, which it ignores, for the
//! same reason as the lobbies: `X-Min-Position` waits for every projection to pass a position.

use crate::Projection;
use domain::{DomainEvent, TrainId, UserEvent, UserId};
use sqlx::PgConnection;

/// `users`: registered accounts.
pub(crate) const PROJECTION: Projection = Projection::new(
    "users",
    &[TrainId::STREAM_PREFIX, UserId::STREAM_PREFIX],
    &["users"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    for &event in events {
        let DomainEvent::User(event) = event else {
            continue;
        };
        match event {
            UserEvent::UserRegistered {
                user_id,
                profile,
                role,
                registered_at,
                ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.users (id, profile, role, registered_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                ))
                .bind(user_id.0)
                .bind(&profile.0)
                .bind(role.as_str())
                .bind(registered_at)
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::RoleChanged { user_id, role, .. } => {
                sqlx::query(&format!(
                    "UPDATE {schema}.users SET role = $2 WHERE id = $1"
                ))
                .bind(user_id.0)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::UserErased { user_id, .. } => {
                sqlx::query(&format!("DELETE FROM {schema}.users WHERE id = $1"))
                    .bind(user_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            UserEvent::PasswordChanged { .. } => {}
        }
    }
    Ok(())
}
