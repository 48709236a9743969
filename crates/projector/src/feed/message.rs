//! The feed's message: one event as the warehouse sees it, and how it travels (JSON body,
//! AMQP properties). Apart from the publisher because the etl decodes the same type.

use crate::{ProjectorError, decode};
use chrono::{DateTime, Utc};
use domain::{LobbyId, TrainId};
use event_store::{Filter, Position, RecordedEvent};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event as the warehouse sees it: everything analysts need, so the etl never reads the
/// event store. `data` is the current schema version (older versions are upcast here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedMessage {
    pub id: Uuid,
    pub stream: String,
    pub revision: u64,
    #[serde(with = "position_text")]
    pub position: Position,
    pub event_type: String,
    /// The schema version `data` is in: the current one when published, so a consumer
    /// running newer code upcasts it like any stored event.
    #[serde(default = "first_version")]
    pub schema_version: u32,
    pub data: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

fn first_version() -> u32 {
    1
}

impl FeedMessage {
    /// The message for a recorded event, upcast to the current schema.
    pub fn from_recorded(event: &RecordedEvent) -> Result<Self, ProjectorError> {
        let decoded = decode(event)?;
        Ok(Self {
            id: event.id,
            stream: event.stream.clone(),
            revision: event.revision,
            position: event.position,
            event_type: decoded.event_type().to_owned(),
            schema_version: decoded.schema_version(),
            data: decoded.encode(),
            recorded_at: event.recorded_at,
        })
    }

    /// Message properties: persistent, id = event id, `position` header, JSON body.
    pub fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "position".into(),
            AMQPValue::LongString(self.position.to_string().into()),
        );
        BasicProperties::default()
            .with_message_id(ShortString::from(self.id.to_string()))
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_type(ShortString::from(self.event_type.clone()))
            .with_timestamp(u64::try_from(self.recorded_at.timestamp()).unwrap_or_default())
            .with_headers(headers)
    }

    /// The streams the feed carries.
    pub fn filter() -> Filter {
        Filter::prefixes([TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX])
    }
}

/// Positions travel as `commit.prepare` text, like the header.
mod position_text {
    use event_store::Position;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(position: &Position, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(position)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}
