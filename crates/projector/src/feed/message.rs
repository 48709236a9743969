//! The feed's message: events as the warehouse sees them, and how they travel. One broker
//! message carries a batch: its body is a JSON array of [`FeedMessage`]s in log order, its
//! `message_id` the first event's id, its `position` header the last event's position and its
//! `events` header how many it holds. Apart from the publisher because the etl decodes the
//! same types.

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

    /// Properties of a message carrying this event alone, as feeds published before they
    /// carried batches: persistent, id = event id, `position` header, JSON body.
    pub fn properties(&self) -> BasicProperties {
        properties(std::slice::from_ref(self))
    }

    /// The streams the feed carries.
    pub fn filter() -> Filter {
        Filter::prefixes([TrainId::STREAM_PREFIX, LobbyId::STREAM_PREFIX])
    }
}

/// The body of one broker message: `events` as a JSON array, in log order.
pub fn body(events: &[FeedMessage]) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(events)
}

/// The properties of the message carrying `events`: persistent, JSON, `message_id` the first
/// event's id, header `position` the last event's position and header `events` their number.
/// The type and timestamp are the last event's.
pub fn properties(events: &[FeedMessage]) -> BasicProperties {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return BasicProperties::default().with_delivery_mode(2);
    };
    let mut headers = FieldTable::default();
    headers.insert(
        "position".into(),
        AMQPValue::LongString(last.position.to_string().into()),
    );
    headers.insert(
        "events".into(),
        AMQPValue::LongLongInt(i64::try_from(events.len()).unwrap_or(i64::MAX)),
    );
    BasicProperties::default()
        .with_message_id(ShortString::from(first.id.to_string()))
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_type(ShortString::from(last.event_type.clone()))
        .with_timestamp(u64::try_from(last.recorded_at.timestamp()).unwrap_or_default())
        .with_headers(headers)
}

/// An event of a body that could not be read, with its `id` when that much was readable.
#[derive(Debug)]
pub struct Unreadable {
    pub id: Option<String>,
    pub error: serde_json::Error,
}

/// The events of a message body: a JSON array of events, or (from a feed older than batches)
/// one event object. Each event that cannot be read comes back as [`Unreadable`] without
/// costing the others; a body that is no JSON at all is one unreadable event.
pub fn read_body(data: &[u8]) -> Vec<Result<FeedMessage, Unreadable>> {
    // Every well-formed body takes this path; the slower one below only sorts out a bad one.
    if let Ok(events) = serde_json::from_slice::<Vec<FeedMessage>>(data) {
        return events.into_iter().map(Ok).collect();
    }
    let one = |value: serde_json::Value| {
        let id = value
            .get("id")
            .and_then(|id| id.as_str())
            .map(str::to_owned);
        serde_json::from_value(value).map_err(|error| Unreadable { id, error })
    };
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(serde_json::Value::Array(values)) => values.into_iter().map(one).collect(),
        Ok(value) => vec![one(value)],
        Err(error) => vec![Err(Unreadable { id: None, error })],
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
