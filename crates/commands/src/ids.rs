//! Id allocation for new trains, bookings, lobbies and accounts (see the migrations for the
//! guarantees).
//!
//! The sequences live in the read database, the ids they handed out in the event log. When the
//! read database is made anew while the log is kept, [`Ids::move_past_the_log`] moves each
//! sequence past the highest id the log holds before any is handed out, so none is handed out
//! twice.

use domain::{BookingId, DomainEvent, EmailEvent, LobbyEvent, LobbyId, TrainEvent, TrainId};
use domain::{UserEvent, UserId};
use event_store::{AnyStore, EventStore, Filter, StoreError};
use sqlx::PgPool;

/// Why the sequences could not be checked against the log.
#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    #[error("reading the event log")]
    Store(#[from] StoreError),
    #[error("moving the id sequences")]
    Database(#[from] sqlx::Error),
}

/// Events read per page while looking for the highest ids.
const PAGE: usize = 1_000;

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

    /// Unless this read database was checked already: reads the whole log for the highest
    /// train, booking, lobby and account ids, moves each sequence past them, and marks the
    /// database checked. Returns the number of events read (0 when it was checked before).
    /// Safe to run from several processes at once: a sequence only ever moves forward.
    pub async fn move_past_the_log(&self, store: &AnyStore) -> Result<u64, IdsError> {
        let checked: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM command_api.ids_checked)")
                .fetch_one(&self.pool)
                .await?;
        if checked {
            return Ok(0);
        }
        let (mut highest, mut read, mut after) = (Highest::default(), 0u64, None);
        loop {
            let page = store.read_all(after, &Filter::all(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.position);
            read += page.len() as u64;
            for event in page {
                // An event this release cannot read holds no id it could reuse anyway.
                if let Ok(event) = domain::decode(&event.event_type, &event.metadata, event.data) {
                    highest.note(&event);
                }
            }
        }
        for (sequence, id) in [
            ("command_api.train_ids", highest.train),
            ("command_api.booking_ids", highest.booking),
            ("command_api.lobby_ids", highest.lobby),
            ("command_api.user_ids", highest.user),
        ] {
            if id > 0 {
                // Never backwards: another process may have handed out ids meanwhile. The name
                // is one of the constants above, never input.
                let moved = format!(
                    "SELECT setval('{sequence}', GREATEST($1,
                         (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence})))"
                );
                sqlx::query(&moved).bind(id).execute(&self.pool).await?;
            }
        }
        sqlx::query("INSERT INTO command_api.ids_checked DEFAULT VALUES")
            .execute(&self.pool)
            .await?;
        Ok(read)
    }

    async fn next(&self, sequence: &'static str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT nextval($1::regclass)")
            .bind(sequence)
            .fetch_one(&self.pool)
            .await
    }
}

/// The highest id of each kind seen in the log so far.
#[derive(Default)]
struct Highest {
    train: i64,
    booking: i64,
    lobby: i64,
    user: i64,
}

impl Highest {
    fn note(&mut self, event: &DomainEvent) {
        let (slot, id) = match event {
            DomainEvent::Train(TrainEvent::TrainRegistered { train_id, .. }) => {
                (&mut self.train, train_id.0)
            }
            DomainEvent::Train(TrainEvent::SeatBooked { booking_id, .. }) => {
                (&mut self.booking, booking_id.0)
            }
            DomainEvent::Lobby(LobbyEvent::LobbyOpened { lobby_id, .. }) => {
                (&mut self.lobby, lobby_id.0)
            }
            DomainEvent::User(UserEvent::UserRegistered { user_id, .. })
            | DomainEvent::Email(EmailEvent::EmailClaimed { user_id, .. }) => {
                (&mut self.user, user_id.0)
            }
            _ => return,
        };
        *slot = (*slot).max(id);
    }
}
