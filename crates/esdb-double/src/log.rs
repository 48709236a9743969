//! The double's in-memory transaction log and the append rules of a real EventStoreDB node.
//!
//! Kept apart from the gRPC plumbing so the rules read on their own. What they model, after
//! EventStoreDB's documented behaviour:
//! - revisions are zero-based per stream; an append checks its expected state first;
//! - a retry of events already written at the expected place is *idempotent*: it succeeds,
//!   writes nothing, and reports the stream revision of its last event but no log position;
//! - a retry that matches only part of what is stored is a wrong expected version;
//! - with `any` (and `stream exists`) the retry is recognised by looking its ids up in the
//!   same stream; event ids are **not** unique across streams: the same id appended to another
//!   stream is simply written again;
//! - the global position is a growing byte offset, with commit == prepare for every event.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The expected state sent with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    NoStream,
    StreamExists,
    Exact(u64),
}

/// An event as proposed by a writer.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub id: Uuid,
    pub metadata: HashMap<String, String>,
    pub custom_metadata: prost::bytes::Bytes,
    pub data: prost::bytes::Bytes,
}

/// An event as the log holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: Uuid,
    pub stream: String,
    pub revision: u64,
    pub position: u64,
    pub metadata: HashMap<String, String>,
    pub custom_metadata: prost::bytes::Bytes,
    pub data: prost::bytes::Bytes,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written; the stream's last revision and the position of its last event.
    Written { revision: u64, position: u64 },
    /// An idempotent retry (or an empty append): nothing written, no position.
    Unchanged { revision: Option<u64> },
    /// The expected state did not hold; nothing written.
    WrongExpectedVersion { current: Option<u64> },
}

/// Bytes a record takes in the log on top of its payload, so positions look like offsets.
const RECORD_OVERHEAD: u64 = 120;

#[derive(Default)]
pub struct Log {
    events: Vec<Stored>,
    /// Per stream: indices into `events` in revision order, and each event id's revision.
    streams: HashMap<String, StreamIndex>,
    next_position: u64,
}

#[derive(Default)]
struct StreamIndex {
    events: Vec<usize>,
    ids: HashMap<Uuid, u64>,
}

impl Log {
    /// A log that already holds a system event, as a fresh node's log does: readers of `$all`
    /// must cope with streams that are not theirs.
    pub fn new() -> Self {
        let mut log = Self::default();
        let epoch = Proposed {
            id: Uuid::now_v7(),
            metadata: HashMap::from([
                ("type".to_owned(), "$epoch-information".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]),
            custom_metadata: prost::bytes::Bytes::new(),
            data: prost::bytes::Bytes::from_static(b"{\"epochNumber\":0}"),
        };
        log.append("$epoch-information", Expected::Any, vec![epoch]);
        log
    }

    pub fn append(&mut self, stream: &str, expected: Expected, events: Vec<Proposed>) -> Outcome {
        let index = self.streams.get(stream);
        let current = index
            .and_then(|i| i.events.len().checked_sub(1))
            .map(to_u64);
        let retry_from = match expected {
            Expected::Exact(n) => match current {
                Some(c) if c == n => None,
                Some(c) if c > n => Some(n + 1),
                _ => return Outcome::WrongExpectedVersion { current },
            },
            Expected::NoStream => current.map(|_| 0),
            Expected::StreamExists if current.is_none() => {
                return Outcome::WrongExpectedVersion { current };
            }
            // Recognised only when the first id is already in this very stream.
            Expected::Any | Expected::StreamExists => events
                .first()
                .and_then(|first| index.and_then(|i| i.ids.get(&first.id).copied())),
        };
        if let Some(from) = retry_from {
            return match self.matches_at(stream, from, &events) {
                Some(revision) => Outcome::Unchanged {
                    revision: Some(revision),
                },
                None => Outcome::WrongExpectedVersion { current },
            };
        }
        if events.is_empty() {
            return Outcome::Unchanged { revision: current };
        }
        self.write(stream, events)
    }

    /// The revision of the last of `events` if they are exactly what the stream holds from
    /// revision `from` on.
    fn matches_at(&self, stream: &str, from: u64, events: &[Proposed]) -> Option<u64> {
        let index = self.streams.get(stream)?;
        let start = usize::try_from(from).ok()?;
        let stored = index.events.get(start..start.checked_add(events.len())?)?;
        let same = stored
            .iter()
            .zip(events)
            .all(|(&at, proposed)| self.events[at].id == proposed.id);
        (same && !events.is_empty()).then(|| from + to_u64(events.len()) - 1)
    }

    fn write(&mut self, stream: &str, events: Vec<Proposed>) -> Outcome {
        let created = ticks_now().to_string();
        let index = self.streams.entry(stream.to_owned()).or_default();
        let mut last = (0, 0);
        for proposed in events {
            let revision = to_u64(index.events.len());
            let position = self.next_position;
            self.next_position += RECORD_OVERHEAD
                + to_u64(proposed.data.len() + proposed.custom_metadata.len() + stream.len());
            let mut metadata = proposed.metadata;
            metadata.insert("created".to_owned(), created.clone());
            index.ids.insert(proposed.id, revision);
            index.events.push(self.events.len());
            self.events.push(Stored {
                id: proposed.id,
                stream: stream.to_owned(),
                revision,
                position,
                metadata,
                custom_metadata: proposed.custom_metadata,
                data: proposed.data,
            });
            last = (revision, position);
        }
        Outcome::Written {
            revision: last.0,
            position: last.1,
        }
    }

    /// Up to `count` events of `stream` from revision `from`; `None` if the stream is absent.
    pub fn read_stream(&self, stream: &str, from: u64, count: usize) -> Option<Vec<Stored>> {
        let index = self.streams.get(stream)?;
        let start = usize::try_from(from).unwrap_or(usize::MAX);
        Some(
            index
                .events
                .iter()
                .skip(start)
                .take(count)
                .map(|&at| self.events[at].clone())
                .collect(),
        )
    }

    /// Index of the first event at or after `position`.
    pub fn index_from(&self, position: u64) -> usize {
        self.events.partition_point(|e| e.position < position)
    }

    /// Scans from index `from`: up to `count` events that `keep` accepts, without looking at
    /// more than `scan` events. Returns them and the index where the scan stopped.
    pub fn scan(
        &self,
        from: usize,
        count: usize,
        scan: usize,
        keep: impl Fn(&Stored) -> bool,
    ) -> (Vec<Stored>, usize) {
        let mut found = Vec::new();
        let mut at = from;
        while at < self.events.len() && found.len() < count && at - from < scan {
            if keep(&self.events[at]) {
                found.push(self.events[at].clone());
            }
            at += 1;
        }
        (found, at)
    }

    /// Position of the event at `index`, or of the end of the log.
    pub fn position_at(&self, index: usize) -> u64 {
        self.events
            .get(index)
            .map_or(self.next_position, |e| e.position)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Now in the server's unit: ticks of 100 ns since the Unix epoch.
fn ticks_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposed(n: u8) -> Proposed {
        Proposed {
            id: Uuid::from_bytes([n; 16]),
            metadata: HashMap::new(),
            custom_metadata: prost::bytes::Bytes::new(),
            data: prost::bytes::Bytes::from(vec![n]),
        }
    }

    #[test]
    fn a_retry_at_the_expected_revision_is_idempotent_and_reports_no_position() {
        let mut log = Log::new();
        let first = log.append("s", Expected::NoStream, vec![proposed(1), proposed(2)]);
        assert!(matches!(first, Outcome::Written { revision: 1, .. }));
        log.append("s", Expected::Exact(1), vec![proposed(3)]);
        for expected in [Expected::NoStream, Expected::Any, Expected::StreamExists] {
            let retry = log.append("s", expected, vec![proposed(1), proposed(2)]);
            assert_eq!(retry, Outcome::Unchanged { revision: Some(1) });
        }
        let retry = log.append("s", Expected::Exact(1), vec![proposed(3)]);
        assert_eq!(retry, Outcome::Unchanged { revision: Some(2) });
        assert_eq!(log.len(), 4, "the system event and three of ours");
    }

    #[test]
    fn a_partial_match_is_a_wrong_expected_version() {
        let mut log = Log::new();
        log.append("s", Expected::NoStream, vec![proposed(1), proposed(2)]);
        let retry = log.append("s", Expected::NoStream, vec![proposed(1), proposed(9)]);
        assert_eq!(retry, Outcome::WrongExpectedVersion { current: Some(1) });
        let longer = log.append("s", Expected::Any, vec![proposed(2), proposed(4)]);
        assert_eq!(longer, Outcome::WrongExpectedVersion { current: Some(1) });
    }

    #[test]
    fn an_id_stored_in_another_stream_is_written_again() {
        let mut log = Log::new();
        log.append("a", Expected::Any, vec![proposed(1)]);
        let other = log.append("b", Expected::Any, vec![proposed(1)]);
        assert!(matches!(other, Outcome::Written { revision: 0, .. }));
    }

    #[test]
    fn expected_states_are_checked() {
        let mut log = Log::new();
        let missing = Outcome::WrongExpectedVersion { current: None };
        assert_eq!(
            log.append("s", Expected::StreamExists, vec![proposed(1)]),
            missing
        );
        assert_eq!(
            log.append("s", Expected::Exact(0), vec![proposed(1)]),
            missing
        );
        log.append("s", Expected::Any, vec![proposed(1)]);
        let ahead = log.append("s", Expected::Exact(5), vec![proposed(2)]);
        assert_eq!(ahead, Outcome::WrongExpectedVersion { current: Some(0) });
        let current = log.append("s", Expected::Exact(0), vec![proposed(2)]);
        assert!(matches!(current, Outcome::Written { revision: 1, .. }));
    }
}
