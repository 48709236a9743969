//! Id allocation for new trains, bookings, lobbies and accounts (see the migrations for the
//! guarantees).

use domain::{BookingId, LobbyId, TrainId, UserId};
use sqlx::PgPool;

/// Hands out ids from PostgreSQL sequences.
#[derive(Clone)]
pub struct Ids {
    pool: PgPool,
}

impl Ids {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn train(&self) -> Result<TrainId, sqlx::Error> {
        self.next("command_api.train_ids").await.map(TrainId)
    }

    pub async fn booking(&self) -> Result<BookingId, sqlx::Error> {
        self.next("command_api.booking_ids").await.map(BookingId)
    }

    pub async fn lobby(&self) -> Result<LobbyId, sqlx::Error> {
        self.next("command_api.lobby_ids").await.map(LobbyId)
    }

    pub async fn user(&self) -> Result<UserId, sqlx::Error> {
        self.next("command_api.user_ids").await.map(UserId)
    }

    async fn next(&self, sequence: &'static str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT nextval($1::regclass)")
            .bind(sequence)
            .fetch_one(&self.pool)
            .await
    }
}
