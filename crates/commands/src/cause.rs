//! Causes: what makes a reaction safe to repeat. A command that a reactor issues carries the
//! event that called for it; its events get ids derived from that cause and record it in
//! their metadata, and a stream that already holds a cause never decides it again.
//!
//! Both guards are needed because the event stores differ: PostgreSQL refuses a stored event
//! id anywhere, while EventStoreDB recognises a retried id only within the same stream at the
//! expected revision, so only the stream's own memory of its causes holds on both.

use domain::DomainEvent;
use event_store::{NewEvent, RecordedEvent};
use uuid::Uuid;

/// The event that caused a command, when a reactor issued it. Its events get ids derived
/// from the cause, and the stream remembers the cause, so a reaction repeated after a crash
/// records nothing twice, on either event store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// The causing event's id.
    pub event_id: Uuid,
    /// The reactor's name: two reactors may react to the same event.
    pub by: &'static str,
}

impl Cause {
    /// The key under which a stream remembers this cause: one per event and reactor.
    pub(crate) fn key(self) -> Uuid {
        Uuid::new_v5(&self.event_id, self.by.as_bytes())
    }

    /// The id of the `index`-th event this cause records: the same on every retry.
    fn event_id(self, index: usize) -> Uuid {
        Uuid::new_v5(&self.key(), &index.to_be_bytes())
    }
}

/// Metadata key of the cause an event was recorded for.
const CAUSATION: &str = "causation_id";

/// The cause `event` was recorded for, from its metadata.
pub(crate) fn recorded(event: &RecordedEvent) -> Option<Uuid> {
    event.metadata.get(CAUSATION)?.as_str()?.parse().ok()
}

/// The events of one command as the log stores them, with ids derived from its cause if it
/// has one.
pub(crate) fn encode<E: Clone + Into<DomainEvent>>(
    events: &[E],
    cause: Option<Cause>,
) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let mut new = NewEvent::from(domain::encode(&event.clone().into()));
            if let Some(cause) = cause {
                new.id = cause.event_id(index);
                if let Some(metadata) = new.metadata.as_object_mut() {
                    metadata.insert(CAUSATION.into(), cause.key().to_string().into());
                }
            }
            new
        })
        .collect()
}
