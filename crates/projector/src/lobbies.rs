//! The lobbies read model: one row per open lobby. Lobby events are rare, so they are applied
//! one by one, in order.

use domain::{DomainEvent, LobbyEvent, TrainEvent};
use sqlx::PgConnection;

pub(crate) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[&DomainEvent],
    _fresh: bool,
) -> Result<(), sqlx::Error> {
    for &event in events {
        match event {
            DomainEvent::Lobby(LobbyEvent::LobbyOpened {
                lobby_id,
                train_id,
                opened_at,
            }) => {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.lobbies (id, train_id, opened_at) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                ))
                .bind(lobby_id.0)
                .bind(train_id.0)
                .bind(opened_at)
                .execute(&mut *tx)
                .await?;
            }
            DomainEvent::Lobby(LobbyEvent::LobbyClosed { lobby_id, .. }) => {
                sqlx::query(&format!("DELETE FROM {schema}.lobbies WHERE id = $1"))
                    .bind(lobby_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            // Its lobby closes with the train, even before the lobby stream records it.
            DomainEvent::Train(TrainEvent::TrainRemoved { train_id, .. }) => {
                sqlx::query(&format!("DELETE FROM {schema}.lobbies WHERE train_id = $1"))
                    .bind(train_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}
