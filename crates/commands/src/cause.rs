//! Causes: what makes a reaction safe to repeat. A command that a reactor issues carries the
//! event that called for it; its events get ids derived from that cause and record it in
//! their metadata, and a stream that already holds a cause never decides it again.
//!
//! The stream's memory is what holds on both event stores: PostgreSQL recognises a stored
//! event id anywhere, but EventStoreDB only within the same stream at the expected revision,
//! and a repeated reaction may come after other events of the stream. The derived ids make a
//! retried append of the very same events a no-op where the store can tell.

use domain::{DomainEvent, UserId};
use event_store::{NewEvent, RecordedEvent};
use uuid::Uuid;

/// The event that caused a command, when a reactor issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// The causing event's id.
    pub event_id: Uuid,
    /// The reactor's name: two reactors may react to the same event.
    pub by: &'static str,
    /// Which of the commands the event called for: one event may call for several.
    pub part: u32,
}

impl Cause {
    /// The key under which a stream remembers this cause: one per event, reactor and command.
    pub(crate) fn key(self) -> Uuid {
        Uuid::new_v5(
            &self.event_id,
            format!("{}/{}", self.by, self.part).as_bytes(),
        )
    }

    /// The id of the `index`-th event this cause records: the same on every retry.
    fn event_id(self, index: usize) -> Uuid {
        Uuid::new_v5(&self.key(), &index.to_be_bytes())
    }

    /// The last of `events` (a stream, as read) that this cause recorded: how a caller that
    /// lost its command's outcome learns whether the command landed, and where. Found by the
    /// same mark the stream's worker goes by, so the two never disagree.
    pub fn last_recorded(self, events: &[RecordedEvent]) -> Option<&RecordedEvent> {
        let key = self.key();
        events
            .iter()
            .rev()
            .find(|event| recorded(event) == Some(key))
    }
}

/// Where a command comes from, recorded in its events' metadata: the event that caused it (a
/// reaction, or a keyed request), and the signed-in user who asked for it (the audit trail).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    pub cause: Option<Cause>,
    pub actor: Option<UserId>,
}

/// Metadata key of the cause an event was recorded for.
const CAUSATION: &str = "causation_id";

/// Metadata key of the user whose request recorded an event.
pub const ACTOR: &str = "actor_id";

/// The cause `event` was recorded for, from its metadata.
pub(crate) fn recorded(event: &RecordedEvent) -> Option<Uuid> {
    event.metadata.get(CAUSATION)?.as_str()?.parse().ok()
}

/// The events of one command as the log stores them, with ids derived from its cause if it
/// has one, and its actor if a user asked for it.
pub(crate) fn encode<E: Clone + Into<DomainEvent>>(events: &[E], origin: Origin) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let mut new = NewEvent::from(domain::encode(&event.clone().into()));
            if let Some(cause) = origin.cause {
                new.id = cause.event_id(index);
            }
            if let Some(metadata) = new.metadata.as_object_mut() {
                if let Some(cause) = origin.cause {
                    metadata.insert(CAUSATION.into(), cause.key().to_string().into());
                }
                if let Some(actor) = origin.actor {
                    metadata.insert(ACTOR.into(), actor.0.into());
                }
            }
            new
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{LobbyEvent, LobbyId, TrainId};
    use event_store::Position;

    fn opened(lobby: i64) -> LobbyEvent {
        LobbyEvent::LobbyOpened {
            lobby_id: LobbyId(lobby),
            train_id: TrainId(lobby),
            opened_at: Default::default(),
        }
    }

    /// `events` as a stream holds them, one append each, at positions 1, 2, ...
    fn stream(appends: &[(LobbyEvent, Option<Cause>)]) -> Vec<RecordedEvent> {
        appends
            .iter()
            .flat_map(|(event, cause)| {
                let origin = Origin {
                    cause: *cause,
                    actor: None,
                };
                encode(std::slice::from_ref(event), origin)
            })
            .enumerate()
            .map(|(index, new)| RecordedEvent {
                id: new.id,
                stream: "lobby-1".into(),
                revision: index as u64,
                position: Position {
                    commit: index as u64 + 1,
                    prepare: index as u64 + 1,
                },
                event_type: new.event_type,
                data: new.data,
                metadata: new.metadata,
                recorded_at: Default::default(),
            })
            .collect()
    }

    fn cause(part: u32) -> Cause {
        Cause {
            event_id: Uuid::from_u128(7),
            by: "test",
            part,
        }
    }

    #[test]
    fn a_cause_finds_the_event_it_recorded_and_no_other() {
        let events = stream(&[
            (opened(1), None),
            (opened(2), Some(cause(0))),
            (opened(3), Some(cause(1))),
        ]);
        let found = cause(0).last_recorded(&events).map(|e| e.revision);
        assert_eq!(found, Some(1));
        assert_eq!(cause(1).last_recorded(&events).map(|e| e.revision), Some(2));
        assert!(cause(2).last_recorded(&events).is_none());
    }

    #[test]
    fn an_actor_is_recorded_beside_the_cause() {
        let origin = Origin {
            cause: Some(cause(0)),
            actor: Some(UserId(9)),
        };
        let encoded = encode(&[opened(1)], origin);
        assert_eq!(encoded[0].metadata[ACTOR].as_i64(), Some(9));
        assert_eq!(
            encoded[0].metadata[CAUSATION].as_str(),
            Some(cause(0).key().to_string().as_str())
        );
        let anonymous = encode(&[opened(1)], Origin::default());
        assert!(anonymous[0].metadata.get(ACTOR).is_none());
    }
}
