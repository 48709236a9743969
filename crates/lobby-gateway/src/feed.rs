//! From the event log to the sockets: one subscription per process follows every train, lobby
//! and order stream and fans each event out, to the members of its train's lobby or, for an
//! order's event, to its owner's own sockets (`/ws/me`).
//!
//! One subscription rather than a second for orders: the hub's one position under one lock is
//! what makes join-then-replay gapless for both kinds of socket, and one reader per process
//! polls the log once. Lobby-only processes pay for decoding order events they drop.
//!
//! The channels the events go out on are the hub's (`hub.rs`). Lobby broadcasts carry ids and
//! seat counts only, never a traveller's credentials; what an order's owner is told is
//! `me.rs`'s business.

use crate::hub::{Hub, Topic};
use domain::{
    DomainEvent, HoldReleaseReason, LobbyCloseReason, LobbyEvent, LobbyId, OrderId, TrainEvent,
    TrainId,
};
use event_store::checkpoint::Checkpoints;
use event_store::{AnyStore, EventStore, Filter, Position, RecordedEvent};
use serde::Serialize;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
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

    /// The broadcast of `message`, made of the log event at `position`.
    pub fn logged(message: &impl Serialize, position: Position) -> Self {
        Self {
            position: Some(position),
            closes: None,
            from: None,
            text: serde_json::to_string(message).unwrap_or_default(),
        }
    }
}

/// The streams whose events the sockets show.
fn filter() -> Filter {
    Filter::prefixes([
        TrainId::STREAM_PREFIX,
        LobbyId::STREAM_PREFIX,
        OrderId::STREAM_PREFIX,
    ])
}

/// Where an event goes in this process and as what, if anywhere.
fn route(event: &RecordedEvent) -> Option<(Topic, Outgoing)> {
    match decode(event)? {
        DomainEvent::Order(order) => {
            let outgoing = crate::me::notice(&order, event.position)?;
            Some((Topic::User(order.owner()), outgoing))
        }
        other => {
            let (train_id, outgoing) = lobby_message(other, event.position)?;
            Some((Topic::Train(train_id), outgoing))
        }
    }
}

/// The message an event becomes in its train's lobby, if any.
pub(crate) fn message(event: &RecordedEvent) -> Option<(TrainId, Outgoing)> {
    lobby_message(decode(event)?, event.position)
}

/// A recorded event read back, or `None` (logged) for one this release cannot read.
pub(crate) fn decode(event: &RecordedEvent) -> Option<DomainEvent> {
    match domain::decode(&event.event_type, &event.metadata, event.data.clone()) {
        Ok(decoded) => Some(decoded),
        // A live push has nothing to hold back: the event is skipped, and the projections'
        // quarantine is where it is kept for an operator. Only its kind is logged, since a
        // decoding error may quote the data.
        Err(e) => {
            tracing::error!(
                position = %event.position,
                stream = %event.stream,
                event_type = %event.event_type,
                error_kind = e.kind(),
                "skipping an event the websockets cannot read"
            );
            metrics::counter!("lobby_events_unreadable_total", "kind" => e.kind()).increment(1);
            None
        }
    }
}

/// The message a decoded event at `at` becomes in its train's lobby, if any.
fn lobby_message(decoded: DomainEvent, at: Position) -> Option<(TrainId, Outgoing)> {
    let position = at.to_string();
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
        // An order's steps are its owner's business (`/ws/me`); the seats they move show as
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
    outgoing.position = Some(at);
    Some((train_id, outgoing))
}

/// Follows the log from where the read models stand (older events have no sockets waiting
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
        hub.set_following();
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = subscription.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    after = Some(event.position);
                    match route(&event) {
                        Some((topic, outgoing)) => hub.send(topic, outgoing),
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
