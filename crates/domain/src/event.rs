//! How domain events cross into and out of the log: stable type names, a schema version, and
//! the upcasting of older versions on the way in.

use crate::{LobbyEvent, TrainEvent};
use serde::{Deserialize, Serialize};

/// Any event of the domain, as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DomainEvent {
    Train(TrainEvent),
    Lobby(LobbyEvent),
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("unsupported schema version {version} of {event_type}")]
    UnsupportedVersion { event_type: String, version: u32 },
    #[error("stored type {event_type} disagrees with the data's type")]
    TypeMismatch { event_type: String },
    #[error("malformed {event_type}: {source}")]
    Malformed {
        event_type: String,
        source: serde_json::Error,
    },
}

const LOBBY_TYPES: [&str; 2] = ["LobbyOpened", "LobbyClosed"];
const TRAIN_TYPES: [&str; 6] = [
    "TrainRegistered",
    "TrainDetailsChanged",
    "SeatBooked",
    "BookingHolderChanged",
    "BookingCancelled",
    "TrainRemoved",
];

impl DomainEvent {
    /// The stable type name, as stored beside the data.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Train(TrainEvent::TrainRegistered { .. }) => TRAIN_TYPES[0],
            Self::Train(TrainEvent::TrainDetailsChanged { .. }) => TRAIN_TYPES[1],
            Self::Train(TrainEvent::SeatBooked { .. }) => TRAIN_TYPES[2],
            Self::Train(TrainEvent::BookingHolderChanged { .. }) => TRAIN_TYPES[3],
            Self::Train(TrainEvent::BookingCancelled { .. }) => TRAIN_TYPES[4],
            Self::Train(TrainEvent::TrainRemoved { .. }) => TRAIN_TYPES[5],
            Self::Lobby(LobbyEvent::LobbyOpened { .. }) => LOBBY_TYPES[0],
            Self::Lobby(LobbyEvent::LobbyClosed { .. }) => LOBBY_TYPES[1],
        }
    }

    /// The schema version this event is written with. Raise it for a breaking change, with an
    /// upcaster for the previous shape in [`upcast`].
    pub fn schema_version(&self) -> u32 {
        current_version(self.event_type()).unwrap_or(1)
    }

    /// The event as stored: a JSON object whose `type` field repeats the type name.
    pub fn encode(&self) -> serde_json::Value {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads an event back, upcasting older schema versions to the current shape. Every reader
    /// (live projections, rebuild, verify, the warehouse feed) decodes through here.
    pub fn decode(
        event_type: &str,
        version: u32,
        data: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let current = current_version(event_type)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
        if version == 0 || version > current {
            return Err(DecodeError::UnsupportedVersion {
                event_type: event_type.to_owned(),
                version,
            });
        }
        let data = upcast(event_type, version, current, data);
        let malformed = |source| DecodeError::Malformed {
            event_type: event_type.to_owned(),
            source,
        };
        let event = if TRAIN_TYPES.contains(&event_type) {
            serde_json::from_value(data)
                .map(Self::Train)
                .map_err(malformed)?
        } else if LOBBY_TYPES.contains(&event_type) {
            serde_json::from_value(data)
                .map(Self::Lobby)
                .map_err(malformed)?
        } else {
            return Err(DecodeError::UnknownType(event_type.to_owned()));
        };
        // The stored type name and the data's own tag must agree.
        if event.event_type() != event_type {
            return Err(DecodeError::TypeMismatch {
                event_type: event_type.to_owned(),
            });
        }
        Ok(event)
    }
}

/// The current schema version of an event type; `None` for an unknown type.
pub fn current_version(event_type: &str) -> Option<u32> {
    match event_type {
        "SeatBooked" => Some(2),
        known if TRAIN_TYPES.contains(&known) || LOBBY_TYPES.contains(&known) => Some(1),
        _ => None,
    }
}

/// Brings stored data of an older version up to the current shape, one version at a time.
fn upcast(
    event_type: &str,
    mut version: u32,
    current: u32,
    mut data: serde_json::Value,
) -> serde_json::Value {
    while version < current {
        if let ("SeatBooked", 1, serde_json::Value::Object(fields)) =
            (event_type, version, &mut data)
        {
            // v1 bookings were always for one seat.
            fields.entry("seat_count").or_insert(serde_json::json!(1));
        }
        version += 1;
    }
    data
}

impl From<TrainEvent> for DomainEvent {
    fn from(event: TrainEvent) -> Self {
        Self::Train(event)
    }
}

impl From<LobbyEvent> for DomainEvent {
    fn from(event: LobbyEvent) -> Self {
        Self::Lobby(event)
    }
}
