//! The lobbies read model: one row per open lobby. Lobby events are rare, so they are applied
//! one by one, in order. A removed train's lobby closes by the `LobbyClosed` that a reactor
//! records, not by a rule repeated here. It still reads the train streams, which it ignores,
//! because a checkpoint moves only with the events its projection reads, and
//! `X-Min-Position` waits for every projection to pass a position anywhere in the log.

use crate::Projection;
use domain::{DomainEvent, LobbyEvent, LobbyId, TrainId};
use sqlx::PgConnection;

/// `lobbies`: open lobbies.
pub(crate) const PROJECTION: Projection = Projection::new(
    "lobbies",
    &[TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX],
    &["lobbies"],
    |tx, schema, events, fresh| Box::pin(apply(tx, schema, events, fresh)),
);

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
            _ => {}
        }
    }
    Ok(())
}
