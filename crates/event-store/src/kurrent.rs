//! The EventStoreDB/KurrentDB adapter, on the official `kurrentdb` gRPC client.
//!
//! Streams map one to one; the global log is `$all`, read and subscribed with the server's
//! stream-prefix filter. Positions are the server's (commit, prepare) pair, kept opaque.
//! Events are JSON: the type, the data and our metadata (as the event's custom metadata).
//!
//! Two things the server does differently from the port's wording, and how they are met:
//! - An idempotent retry comes back without a position (`no_position`): the adapter reads the
//!   event at the returned revision to give back the original append's position.
//! - `$all` holds the server's own `$`-streams; with no prefix filter they are skipped here.
//!
//! One thing it cannot promise: EventStoreDB recognises a retried event id only in the same
//! stream, so an id already stored in *another* stream is written again rather than refused
//! (see [`KurrentStore::DETECTS_IDS_ACROSS_STREAMS`]).

mod subscription;

use crate::{
    AppendResult, EventStore, ExpectedRevision, Filter, NewEvent, Position, RecordedEvent,
    StoreError, Subscription,
};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, ReadAllOptions,
    ReadStreamOptions, StreamPosition, StreamState, SubscriptionFilter,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a single append or read may take before it counts as unavailable. The client
/// only sends it to the server (`grpc-timeout`); `CLIENT_BOUND` enforces it here too.
const DEADLINE: Duration = Duration::from_secs(10);
const CLIENT_BOUND: Duration = Duration::from_secs(15);

/// An event store on an EventStoreDB/KurrentDB node or cluster.
#[derive(Clone)]
pub struct KurrentStore {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ClientSettings,
    /// The client and a generation number. The client's connection task ends for good when
    /// it cannot reach a node; the client is then replaced, once per generation.
    client: RwLock<(Client, u64)>,
}

impl KurrentStore {
    /// A real server only recognises a repeated event id within the same stream.
    pub const DETECTS_IDS_ACROSS_STREAMS: bool = false;

    /// Connects to `url` (`esdb://`, `kurrentdb://`, or their `+discover` forms), retrying
    /// with backoff for about a minute until the server answers.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let settings: ClientSettings = url
            .parse()
            .map_err(|e: kurrentdb::ClientSettingsParseError| StoreError::Backend(e.into()))?;
        let attempt = AtomicUsize::new(0);
        let client = (|| async {
            attempt.fetch_add(1, Ordering::Relaxed);
            let client = new_client(&settings)?;
            // The client connects lazily; asking for the server's features connects now.
            client.server_info().await.map_err(classify)?;
            Ok::<_, StoreError>(client)
        })
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(15),
        )
        .when(|e| matches!(e, StoreError::Unavailable(_)))
        .notify(|error, wait| {
            tracing::warn!(
                attempt = attempt.load(Ordering::Relaxed),
                retry_in_ms = wait.as_millis() as u64,
                error = %error_chain(error),
                "event store (EventStoreDB) not reachable yet; retrying"
            );
        })
        .await?;
        tracing::info!(
            attempts = attempt.load(Ordering::Relaxed),
            "connected to the event store (EventStoreDB)"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                client: RwLock::new((client, 0)),
            }),
        })
    }

    fn client(&self) -> (Client, u64) {
        let guard = self
            .inner
            .client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard.0.clone(), guard.1)
    }

    /// Replaces the client of `generation` if `error` shows its connection task has ended.
    fn recover(&self, generation: u64, error: &kurrentdb::Error) {
        if !matches!(
            error,
            kurrentdb::Error::ConnectionClosed | kurrentdb::Error::GrpcConnectionError(_)
        ) {
            return;
        }
        let mut slot = self
            .inner
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.1 != generation {
            return;
        }
        match new_client(&self.inner.settings) {
            Ok(client) => {
                tracing::warn!(error = %error, "event store connection lost for good; new client");
                *slot = (client, generation + 1);
            }
            Err(e) => tracing::error!(error = %error_chain(&e), "could not create a new client"),
        }
    }

    /// Runs `call` with the current client, replacing the client if it turned out dead.
    async fn with_client<T, F, Fut>(&self, call: F) -> Result<T, kurrentdb::Error>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, kurrentdb::Error>>,
    {
        let (client, generation) = self.client();
        let result = tokio::time::timeout(CLIENT_BOUND, call(client))
            .await
            .unwrap_or(Err(kurrentdb::Error::DeadlineExceeded));
        result.inspect_err(|e| self.recover(generation, e))
    }

    /// Events of `stream` from `revision` on, up to `count`.
    async fn read_stream_from(
        &self,
        stream: &str,
        revision: u64,
        count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(revision))
            .max_count(count)
            .deadline(DEADLINE);
        let resolved = self
            .with_client(|client| async move {
                let mut read = client.read_stream(stream, &options).await?;
                let mut events = Vec::new();
                loop {
                    match read.next().await {
                        Ok(Some(event)) => events.push(event),
                        Ok(None) | Err(kurrentdb::Error::ResourceNotFound) => return Ok(events),
                        Err(e) => return Err(e),
                    }
                }
            })
            .await
            .map_err(classify)?;
        resolved.iter().map(convert).collect()
    }

    /// The position of the event at `revision` of `stream`: what an idempotent retry was
    /// first written at.
    async fn position_of(&self, stream: &str, revision: u64) -> Result<Position, StoreError> {
        let events = self.read_stream_from(stream, revision, 1).await?;
        events.first().map(|e| e.position).ok_or_else(|| {
            StoreError::Backend(
                format!("{stream}@{revision} acknowledged as written but not found").into(),
            )
        })
    }
}

fn new_client(settings: &ClientSettings) -> Result<Client, StoreError> {
    Client::new(settings.clone()).map_err(|e| StoreError::Backend(e.into()))
}

impl EventStore for KurrentStore {
    #[tracing::instrument(skip_all, fields(stream = %stream, events = events.len()))]
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        StoreError::check_not_empty(&events)?;
        let state = match expected {
            ExpectedRevision::Any => StreamState::Any,
            ExpectedRevision::NoStream => StreamState::NoStream,
            ExpectedRevision::StreamExists => StreamState::StreamExists,
            ExpectedRevision::Exact(revision) => StreamState::StreamRevision(revision),
        };
        let data = events
            .iter()
            .map(|e| {
                let event = EventData::json(&e.event_type, &e.data)?.id(e.id);
                event.metadata_as_json(&e.metadata)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Backend(e.into()))?;
        let options = AppendToStreamOptions::default()
            .stream_state(state)
            .deadline(DEADLINE);
        let written = self
            .with_client(
                |client| async move { client.append_to_stream(stream, &options, data).await },
            )
            .await;
        match written {
            Ok(result) if result.position == kurrentdb::Position::start() => {
                // `no_position`: an idempotent retry. Nothing is written at position zero
                // (the log starts with the server's own records).
                let revision = result.next_expected_version;
                let position = self.position_of(stream, revision).await?;
                Ok(AppendResult { revision, position })
            }
            Ok(result) => Ok(AppendResult {
                revision: result.next_expected_version,
                position: from_position(result.position),
            }),
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                Err(StoreError::WrongExpectedRevision {
                    stream: stream.to_owned(),
                    expected,
                    actual: match current {
                        CurrentRevision::Current(revision) => Some(revision),
                        CurrentRevision::NoStream => None,
                    },
                })
            }
            Err(other) => Err(classify(other)),
        }
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_from(stream, 0, usize::MAX).await
    }

    #[tracing::instrument(skip_all, fields(stream = %stream))]
    async fn read_stream_after(
        &self,
        stream: &str,
        after: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match after.checked_add(1) {
            Some(from) => self.read_stream_from(stream, from, usize::MAX).await,
            None => Ok(Vec::new()),
        }
    }

    async fn read_all(
        &self,
        after: Option<Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut found: Vec<RecordedEvent> = Vec::new();
        // Everything at or below `floor` is already seen: the server reads `$all` from a
        // position inclusively, so each page may repeat the last event of the one before.
        let mut floor = after;
        while found.len() < limit {
            let want = (limit - found.len()).saturating_add(1);
            let mut options = ReadAllOptions::default()
                .forwards()
                .position(floor.map_or(StreamPosition::Start, |p| {
                    StreamPosition::Position(to_position(p))
                }))
                .max_count(want)
                .deadline(DEADLINE);
            if let Some(server_filter) = server_filter(filter) {
                options = options.filter(server_filter);
            }
            let page = self
                .with_client(|client| async move {
                    let mut read = client.read_all(&options).await?;
                    let mut events = Vec::new();
                    while let Some(event) = read.next().await? {
                        events.push(event);
                    }
                    Ok(events)
                })
                .await
                .map_err(classify)?;
            let complete = page.len() < want;
            for resolved in &page {
                let event = resolved.get_original_event();
                let position = from_position(event.position);
                if floor.is_some_and(|f| position <= f) {
                    continue;
                }
                floor = Some(position);
                if is_server_stream(filter, event.stream_id()) {
                    continue;
                }
                found.push(convert(resolved)?);
            }
            if complete {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    async fn count(&self, _after: Option<Position>) -> Result<Option<u64>, StoreError> {
        // The server has no cheap count of `$all` after a position.
        Ok(None)
    }

    fn subscribe(&self, after: Option<Position>, filter: Filter) -> Subscription {
        subscription::start(self.clone(), after, filter)
    }
}

/// The server-side filter for `filter`: stream-name prefixes, or none at all.
fn server_filter(filter: &Filter) -> Option<SubscriptionFilter> {
    let prefixes = filter.stream_prefixes();
    (!prefixes.is_empty()).then(|| {
        prefixes
            .iter()
            .fold(SubscriptionFilter::on_stream_name(), |f, p| f.add_prefix(p))
    })
}

/// With no prefix filter, `$all` also carries the server's own `$`-streams; they are not ours.
fn is_server_stream(filter: &Filter, stream: &str) -> bool {
    filter.stream_prefixes().is_empty() && stream.starts_with('$')
}

fn convert(resolved: &kurrentdb::ResolvedEvent) -> Result<RecordedEvent, StoreError> {
    let event = resolved.get_original_event();
    let json = |bytes: &[u8], what: &str| {
        if bytes.is_empty() {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            StoreError::Backend(
                format!("event {} has {what} that is not JSON: {e}", event.id).into(),
            )
        })
    };
    Ok(RecordedEvent {
        id: event.id,
        stream: event.stream_id().to_owned(),
        revision: event.revision,
        position: from_position(event.position),
        event_type: event.event_type.clone(),
        data: json(&event.data, "data")?,
        metadata: json(&event.custom_metadata, "metadata")?,
        recorded_at: created(event),
    })
}

/// When the server recorded `event`, to the 100 ns tick it keeps (the client's own field
/// rounds to seconds).
fn created(event: &kurrentdb::RecordedEvent) -> DateTime<Utc> {
    event
        .metadata
        .get("created")
        .and_then(|ticks| ticks.parse::<i64>().ok())
        .and_then(|ticks| {
            DateTime::from_timestamp(ticks / 10_000_000, ((ticks % 10_000_000) * 100) as u32)
        })
        .unwrap_or(event.created)
}

fn from_position(position: kurrentdb::Position) -> Position {
    Position::new(position.commit, position.prepare)
}

fn to_position(position: Position) -> kurrentdb::Position {
    kurrentdb::Position {
        commit: position.commit,
        prepare: position.prepare,
    }
}

/// Connection trouble and timeouts are `Unavailable`; everything else is a `Backend` fault
/// (`append` picks out a wrong expected version first).
fn classify(error: kurrentdb::Error) -> StoreError {
    use kurrentdb::Error as E;
    let unavailable = match &error {
        E::ServerError(_)
        | E::ConnectionClosed
        | E::GrpcConnectionError(_)
        | E::DeadlineExceeded
        | E::NotLeaderException(_) => true,
        E::Grpc { code, .. } => matches!(
            code,
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::ResourceExhausted
        ),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(error.into())
    } else {
        StoreError::Backend(error.into())
    }
}

fn error_chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
