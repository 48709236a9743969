//! Id allocation for new trains, bookings, lobbies and accounts (see the migrations for the
//! guarantees).
//!
//! Each process takes ids from a sequence in blocks, so a busy one makes one round trip per
//! block instead of one per id. A block grows (doubling, up to [`MAX_BLOCK`]) while its ids
//! go within a second, and shrinks back to one when they do not, so a quiet process leaves
//! few gaps. Ids stay unique and are never reused: every one comes from `nextval`; what a
//! process holds when it stops is a gap, as a refused command's id always was. Ids from
//! several processes interleave, so a higher id does not mean a later booking.
//!
//! The sequences live in the read database, the ids they handed out in the event log. When the
//! read database is made anew while the log is kept, [`Ids::move_past_the_log`] moves each
//! sequence past the highest id the log holds before any is handed out, so none is handed out
//! twice.

use domain::{BookingId, DomainEvent, EmailEvent, LobbyEvent, LobbyId, TrainEvent, TrainId};
use domain::{UserEvent, UserId};
use event_store::{AnyStore, EventStore, Filter, StoreError};
use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

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

/// Most ids taken from a sequence in one round trip.
pub const MAX_BLOCK: usize = 128;

/// A block used up within this long is followed by a bigger one.
const BUSY: Duration = Duration::from_secs(1);

/// Hands out ids from PostgreSQL sequences, a block at a time.
#[derive(Clone)]
pub struct Ids {
    pool: PgPool,
    trains: Arc<Mutex<Block>>,
    bookings: Arc<Mutex<Block>>,
    lobbies: Arc<Mutex<Block>>,
    users: Arc<Mutex<Block>>,
}

/// The ids a process holds from one sequence.
struct Block {
    sequence: &'static str,
    ids: VecDeque<i64>,
    /// How many to take next time.
    size: usize,
    taken_at: Instant,
}

impl Block {
    fn new(sequence: &'static str) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            sequence,
            ids: VecDeque::new(),
            size: 1,
            taken_at: Instant::now(),
        }))
    }

    /// The next id, taking a new block first when this one is used up. Callers wait in turn
    /// while one takes it, so a burst makes one round trip, not one each.
    async fn next(&mut self, pool: &PgPool) -> Result<i64, sqlx::Error> {
        if let Some(id) = self.ids.pop_front() {
            return Ok(id);
        }
        self.size = next_size(self.size, self.taken_at.elapsed());
        // The name is one of the constants below, never input.
        let taken: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT nextval('{}') FROM generate_series(1, $1)",
            self.sequence
        ))
        .bind(i64::try_from(self.size).unwrap_or(1))
        .fetch_all(pool)
        .await?;
        self.taken_at = Instant::now();
        self.ids.extend(taken);
        self.ids.pop_front().ok_or(sqlx::Error::RowNotFound)
    }
}

/// The next block's size: twice the last while blocks go within [`BUSY`], else one.
fn next_size(last: usize, used_in: Duration) -> usize {
    if used_in < BUSY {
        (last * 2).min(MAX_BLOCK)
    } else {
        1
    }
}

impl Ids {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            trains: Block::new("command_api.train_ids"),
            bookings: Block::new("command_api.booking_ids"),
            lobbies: Block::new("command_api.lobby_ids"),
            users: Block::new("command_api.user_ids"),
        }
    }

    pub async fn train(&self) -> Result<TrainId, sqlx::Error> {
        self.trains.lock().await.next(&self.pool).await.map(TrainId)
    }

    pub async fn booking(&self) -> Result<BookingId, sqlx::Error> {
        self.bookings
            .lock()
            .await
            .next(&self.pool)
            .await
            .map(BookingId)
    }

    pub async fn lobby(&self) -> Result<LobbyId, sqlx::Error> {
        self.lobbies
            .lock()
            .await
            .next(&self.pool)
            .await
            .map(LobbyId)
    }

    pub async fn user(&self) -> Result<UserId, sqlx::Error> {
        self.users.lock().await.next(&self.pool).await.map(UserId)
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
