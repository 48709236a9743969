//! Causes: what makes a reaction safe to repeat. A command that a reactor issues carries the
//! event that called for it; its events get ids derived from that cause and record it in
//! their metadata, and a stream that already holds a cause never decides it again.
//!
//! The stream's memory is what holds on both event stores: PostgreSQL recognises a stored
//! event id anywhere, but EventStoreDB only within the same stream at the expected revision,
//! and a repeated reaction may come after other events of the stream. The derived ids make a
//! retried append of the very same events a no-op where the store can tell.

use domain::DomainEvent;
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
