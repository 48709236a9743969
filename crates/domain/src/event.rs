//! The codec of stored events: how domain events cross into and out of the log. Stable type
//! names, a schema version per type, and the upcasting of older versions on the way in. Pure:
//! every writer encodes and every reader decodes through here.
//!
//! Each aggregate's event enum is an [`EventFamily`] that knows its own type names and
//! upcasters; [`DomainEvent`] is the registry of families, one line per aggregate.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One aggregate's events, as the log stores them.
pub trait EventFamily: Serialize + DeserializeOwned {
    /// Every stored type name of the family, with its current schema version. A breaking
    /// change raises the version and teaches [`upcast`](Self::upcast) the previous shape.
    const TYPES: &'static [(&'static str, u32)];

    /// The stable type name of this event: its serde tag, stored beside the data.
    fn event_type(&self) -> &'static str;

    /// Brings stored data of `event_type` from `version` to `version + 1`.
    fn upcast(_event_type: &str, _version: u32, _data: &mut Value) {}
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

impl DecodeError {
    /// What went wrong, without any of the event's values: safe to store and log, since the
    /// data may hold personal details.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownType(_) => "unknown_type",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::TypeMismatch { .. } => "type_mismatch",
            Self::Malformed { .. } => "malformed",
        }
    }
}

/// The registry of event families: `Variant(Family)` per aggregate.
macro_rules! domain_events {
    ($($variant:ident($family:ty)),+ $(,)?) => {
        /// Any event of the domain, as read back from the log.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(untagged)]
        pub enum DomainEvent {
            $($variant($family)),+
        }

        impl DomainEvent {
            /// The stable type name, as stored beside the data.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(event) => event.event_type()),+
                }
            }
        }

        /// The current schema version of an event type; `None` for an unknown type.
        pub fn current_version(event_type: &str) -> Option<u32> {
            None$(.or_else(|| version_in::<$family>(event_type)))+
        }

        fn decode_family(
            event_type: &str,
            version: u32,
            data: Value,
        ) -> Result<DomainEvent, DecodeError> {
            $(
                if let Some(current) = version_in::<$family>(event_type) {
                    return decode_in::<$family>(event_type, version, current, data)
                        .map(DomainEvent::$variant);
                }
            )+
            Err(DecodeError::UnknownType(event_type.to_owned()))
        }

        $(
            impl From<$family> for DomainEvent {
                fn from(event: $family) -> Self {
                    Self::$variant(event)
                }
            }

            impl TryFrom<DomainEvent> for $family {
                type Error = DomainEvent;

                fn try_from(event: DomainEvent) -> Result<Self, DomainEvent> {
                    match event {
                        DomainEvent::$variant(event) => Ok(event),
                        other => Err(other),
                    }
                }
            }
        )+
    };
}

domain_events! {
    Train(crate::TrainEvent),
    Lobby(crate::LobbyEvent),
    User(crate::UserEvent),
    Email(crate::EmailEvent),
    Order(crate::OrderEvent),
}

impl DomainEvent {
    /// The schema version this event is written with.
    pub fn schema_version(&self) -> u32 {
        current_version(self.event_type()).unwrap_or(1)
    }

    /// The event as stored: a JSON object whose `type` field repeats the type name.
    pub fn encode(&self) -> Value {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads an event back, upcasting older schema versions to the current shape.
    pub fn decode(event_type: &str, version: u32, data: Value) -> Result<Self, DecodeError> {
        let event = decode_family(event_type, version, data)?;
        // The stored type name and the data's own tag must agree.
        if event.event_type() != event_type {
            return Err(DecodeError::TypeMismatch {
                event_type: event_type.to_owned(),
            });
        }
        Ok(event)
    }
}

/// An event as the log stores it: `(type, data, metadata)`, the metadata carrying the schema
/// version.
pub fn encode(event: &DomainEvent) -> (&'static str, Value, Value) {
    let metadata = serde_json::json!({ "schema_version": event.schema_version() });
    (event.event_type(), event.encode(), metadata)
}

/// Reads a stored event back from its type, metadata and data.
pub fn decode(event_type: &str, metadata: &Value, data: Value) -> Result<DomainEvent, DecodeError> {
    DomainEvent::decode(event_type, stored_version(metadata), data)
}

/// The schema version recorded in an event's metadata. Events written before versions were
/// recorded are the first version.
pub fn stored_version(metadata: &Value) -> u32 {
    metadata
        .get("schema_version")
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1)
}

fn version_in<F: EventFamily>(event_type: &str) -> Option<u32> {
    F::TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, version)| *version)
}

fn decode_in<F: EventFamily>(
    event_type: &str,
    version: u32,
    current: u32,
    mut data: Value,
) -> Result<F, DecodeError> {
    if version == 0 || version > current {
        return Err(DecodeError::UnsupportedVersion {
            event_type: event_type.to_owned(),
            version,
        });
    }
    for from in version..current {
        F::upcast(event_type, from, &mut data);
    }
    serde_json::from_value(data).map_err(|source| DecodeError::Malformed {
        event_type: event_type.to_owned(),
        source,
    })
}
