//! From the event log to the lobbies: one subscription per process follows every train and
//! lobby stream and fans each event out to the members of that train's lobby.
//!
//! Each train with members has a bounded broadcast channel; a member that falls more than its
//! capacity behind sees `Lagged` and is dropped (it can reconnect with its last position), so
//! memory per connection stays bounded whatever a client does. Broadcasts carry ids and seat
//! counts only, never a traveller's credentials.

use domain::{
    DomainEvent, HoldReleaseReason, LobbyCloseReason, LobbyEvent, LobbyId, TrainEvent, TrainId,
};
use event_store::checkpoint::Checkpoints;
use event_store::{AnyStore, EventStore, Filter, Position, RecordedEvent};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A message to lobby members, as JSON with a `type`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Welcome {
        lobby_id: LobbyId,
        train_id: TrainId,
        /// The last log position this member is up to date with; reconnect with `?after=` it.
        position: Option<String>,
        member: String,
    },
    BookingConfirmed {
        position: String,
        train_id: TrainId,
        booking_id: domain::BookingId,
        seats_left: u32,
        /// The seat; `null` for a booking made before seats existed.
        seat: Option<domain::SeatId>,
    },
    /// Seats another traveller holds for now; no word of who.
    SeatsHeld {
        position: String,
        train_id: TrainId,
        seats: Vec<domain::SeatId>,
    },
    /// Held seats free again: `released`, `expired` or `train_removed`.
    SeatsReleased {
        position: String,
        train_id: TrainId,
        seats: Vec<domain::SeatId>,
        reason: &'static str,
    },
    BookingCancelled {
        position: String,
        train_id: TrainId,
        booking_id: domain::BookingId,
        seats_left: u32,
    },
    TrainUpdated {
        position: String,
        train_id: TrainId,
        capacity: u32,
        seats_left: u32,
    },
    TrainRemoved {
        position: String,
        train_id: TrainId,
    },
    LobbyClosed {
        position: String,
        train_id: TrainId,
        lobby_id: LobbyId,
        reason: LobbyCloseReason,
    },
    Chat {
        lobby_id: LobbyId,
        /// An opaque id of the sending connection, not a person.
        member: String,
        text: String,
    },
}

/// One broadcast: the JSON once, shared by every member.
#[derive(Debug)]
pub struct Outgoing {
    /// Set for log events; members skip what they already replayed.
    pub position: Option<Position>,
    /// The lobby a `lobby_closed` closes.
    pub closes: Option<LobbyId>,
    /// The sending member of a chat line, who does not get it back.
    pub from: Option<String>,
    pub text: String,
}

impl Outgoing {
    pub fn new(message: &Message) -> Self {
        let (position, closes, from) = match message {
            Message::LobbyClosed { lobby_id, .. } => (None, Some(*lobby_id), None),
            Message::Chat { member, .. } => (None, None, Some(member.clone())),
            _ => (None, None, None),
        };
        Self {
            position,
            closes,
            from,
            text: serde_json::to_string(message).unwrap_or_default(),
        }
    }
}

/// The lobbies with members in this process, by train.
pub struct Hub {
    capacity: usize,
    state: Mutex<HubState>,
    following: AtomicBool,
}

#[derive(Default)]
struct HubState {
    trains: HashMap<TrainId, broadcast::Sender<Arc<Outgoing>>>,
    /// The last event fanned out.
    position: Option<Position>,
}

/// A member's place in its train's channel; leaving drops the channel with its last member.
pub struct Membership<'a> {
    hub: &'a Hub,
    train_id: TrainId,
    pub receiver: broadcast::Receiver<Arc<Outgoing>>,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        // Our own receiver still counts; under the lock nobody can join meanwhile.
        if state
            .trains
            .get(&self.train_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            state.trains.remove(&self.train_id);
        }
    }
}

impl Hub {
    /// Members may fall `capacity` messages behind before they are dropped.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::default(),
            following: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins `train_id`'s lobby: everything fanned out after the returned position arrives.
    pub fn join(&self, train_id: TrainId) -> (Membership<'_>, Option<Position>) {
        let mut state = self.lock();
        let receiver = state
            .trains
            .entry(train_id)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        let membership = Membership {
            hub: self,
            train_id,
            receiver,
        };
        (membership, state.position)
    }

    /// Hands `outgoing` to the members of `train_id`'s lobby in this process.
    pub fn send(&self, train_id: TrainId, outgoing: Outgoing) {
        let mut state = self.lock();
        if let Some(position) = outgoing.position {
            state.position = Some(position);
        }
        if let Some(sender) = state.trains.get(&train_id) {
            // No receiver left is fine: the last member just went.
            let _ = sender.send(Arc::new(outgoing));
        }
    }

    /// Members in this process, across lobbies.
    pub fn members(&self) -> usize {
        self.lock()
            .trains
            .values()
            .map(|s| s.receiver_count())
            .sum()
    }

    pub(crate) fn is_following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }
}

/// The streams whose events lobbies show.
pub(crate) fn filter() -> Filter {
    Filter::prefixes([TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX])
}

/// The message an event becomes in its train's lobby, if any.
pub(crate) fn message(event: &RecordedEvent) -> Option<(TrainId, Outgoing)> {
    let decoded = match domain::decode(&event.event_type, &event.metadata, event.data.clone()) {
        Ok(decoded) => decoded,
        // A live push has nothing to hold back: the event is skipped, and the projections'
        // quarantine is where it is kept for an operator. Only its kind is logged, since a
        // decoding error may quote the data.
        Err(e) => {
            tracing::error!(
                position = %event.position,
                stream = %event.stream,
                event_type = %event.event_type,
                error_kind = e.kind(),
                "skipping an event the lobbies cannot read"
            );
            metrics::counter!("lobby_events_unreadable_total", "kind" => e.kind()).increment(1);
            return None;
        }
    };
    let position = event.position.to_string();
    let (train_id, message) = match decoded {
        DomainEvent::Train(TrainEvent::SeatBooked {
            train_id,
            booking_id,
            seats_left,
            seat,
            ..
        }) => (
            train_id,
            Message::BookingConfirmed {
                position,
                train_id,
                booking_id,
                seats_left,
                seat,
            },
        ),
        DomainEvent::Train(TrainEvent::SeatsHeld {
            train_id, seats, ..
        }) => (
            train_id,
            Message::SeatsHeld {
                position,
                train_id,
                seats,
            },
        ),
        DomainEvent::Train(TrainEvent::HoldReleased {
            train_id,
            seats,
            reason,
            ..
        }) => (
            train_id,
            Message::SeatsReleased {
                position,
                train_id,
                seats,
                reason: match reason {
                    HoldReleaseReason::Released => "released",
                    HoldReleaseReason::TrainRemoved => "train_removed",
                },
            },
        ),
        DomainEvent::Train(TrainEvent::HoldExpired {
            train_id, seats, ..
        }) => (
            train_id,
            Message::SeatsReleased {
                position,
                train_id,
                seats,
                reason: "expired",
            },
        ),
        DomainEvent::Train(TrainEvent::BookingCancelled {
            train_id,
            booking_id,
            seats_left,
            ..
        }) => (
            train_id,
            Message::BookingCancelled {
                position,
                train_id,
                booking_id,
                seats_left,
            },
        ),
        DomainEvent::Train(TrainEvent::TrainDetailsChanged {
            train_id,
            capacity,
            seats_left,
            ..
        }) => (
            train_id,
            Message::TrainUpdated {
                position,
                train_id,
                capacity,
                seats_left,
            },
        ),
        DomainEvent::Train(TrainEvent::TrainRemoved { train_id, .. }) => {
            (train_id, Message::TrainRemoved { position, train_id })
        }
        DomainEvent::Lobby(LobbyEvent::LobbyClosed {
            lobby_id,
            train_id,
            reason,
            ..
        }) => (
            train_id,
            Message::LobbyClosed {
                position,
                train_id,
                lobby_id,
                reason,
            },
        ),
        // Nothing a waiting traveller needs: a new train has no lobby yet, an opened lobby
        // has no members yet, a holder change is personal, and accounts are nobody else's.
        // An order's steps on a train are its owner's business; the seats they move show as
        // the bookings and releases that come with them.
        DomainEvent::Train(
            TrainEvent::TrainRegistered { .. }
            | TrainEvent::BookingHolderChanged { .. }
            | TrainEvent::HoldExtended { .. }
            | TrainEvent::HoldExtensionRefused { .. }
            | TrainEvent::OrderTicketsBooked { .. }
            | TrainEvent::TicketsRefused { .. }
            | TrainEvent::TicketsRescheduled { .. },
        )
        | DomainEvent::Lobby(LobbyEvent::LobbyOpened { .. })
        | DomainEvent::User(_)
        | DomainEvent::Email(_)
        | DomainEvent::Order(_) => return None,
    };
    let mut outgoing = Outgoing::new(&message);
    outgoing.position = Some(event.position);
    Some((train_id, outgoing))
}

/// Follows the log from where the read models stand (older events have no members waiting
/// for them) and fans every event out, until `shutdown`. The subscription retries lost
/// connections itself; if it ends anyway, it is opened again from the last position.
pub(crate) async fn follow(
    hub: Arc<Hub>,
    store: AnyStore,
    pool: PgPool,
    shutdown: CancellationToken,
) {
    let mut after = loop {
        match Checkpoints::all(&pool).await {
            Ok(all) => break all.into_iter().map(|(_, at)| at).max(),
            Err(e) => tracing::warn!(error = %e, "cannot read the checkpoints yet; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    hub.lock().position = after;
    while !shutdown.is_cancelled() {
        let mut subscription = store.subscribe(after, filter());
        hub.following.store(true, Ordering::Relaxed);
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = subscription.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    after = Some(event.position);
                    match message(&event) {
                        Some((train_id, outgoing)) => hub.send(train_id, outgoing),
                        None => hub.lock().position = after,
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the lobby feed failed; resubscribing");
                    break;
                }
                None => break,
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
