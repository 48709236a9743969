//! The Streams gRPC service over the in-memory [`Log`]: Append, bounded reads of one stream or
//! of `$all`, and `$all` subscriptions (confirmation, catch-up, caught-up, then live), each
//! answered the way a real node answers the kurrentdb client.
#![expect(
    clippy::result_large_err,
    reason = "tonic handlers answer with a Status; the helpers here build it"
)]

use crate::log::{Expected, Log, Outcome, Proposed, Stored};
use crate::proto::streams::read_req::options::{
    self as read_options, AllOptions, CountOption, FilterOption, ReadDirection, StreamOption,
    all_options::AllOption, filter_options, stream_options::RevisionOption,
};
use crate::proto::streams::{
    AppendReq, AppendResp, ReadReq, ReadResp, append_req, append_resp, read_resp,
    streams_server::Streams,
};
use crate::proto::{AllStreamPosition, StreamIdentifier, Uuid as ProtoUuid, uuid as proto_uuid};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

/// Events a subscription sends per look at the log, and how many it scans for them at most
/// before it reports a checkpoint (the real server's filter window works alike).
const SUBSCRIPTION_BATCH: usize = 500;
const SCAN_WINDOW: usize = 4096;

/// What every connection shares, and what survives a stop and a restart.
pub(crate) struct Shared {
    log: Mutex<Log>,
    /// The log's length, bumped after every write; live subscriptions wait on it.
    head: watch::Sender<usize>,
    /// Subscriptions still to be broken on purpose (see `EsdbDouble::break_next_subscription`).
    to_break: AtomicUsize,
    /// `$all` subscriptions opened so far, and those still open.
    subscriptions: AtomicUsize,
    open: Arc<AtomicUsize>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        let log = Log::new();
        let (head, _) = watch::channel(log.len());
        Self {
            log: Mutex::new(log),
            head,
            to_break: AtomicUsize::new(0),
            subscriptions: AtomicUsize::new(0),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written: appends build
        // everything before pushing.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn break_next_subscription(&self) {
        self.to_break.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::SeqCst)
    }

    pub(crate) fn open_subscriptions(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn take_break(&self) -> bool {
        self.to_break
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

pub(crate) struct StreamsService {
    pub(crate) shared: Arc<Shared>,
}

type ReadStream = BoxStream<'static, Result<ReadResp, Status>>;

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ReadStream;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<ReadStream>, Status> {
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("read options are required"))?;
        if options.read_direction != ReadDirection::Forwards as i32 {
            return Err(Status::unimplemented("the double reads forwards only"));
        }
        let ids_as_text = matches!(
            options.uuid_option.and_then(|u| u.content),
            Some(read_options::uuid_option::Content::String(()))
        );
        let filter = Filter::from_option(options.filter_option)?;
        let encode = move |event: &Stored| event_message(event, ids_as_text);
        let replies = match (options.stream_option, options.count_option) {
            (Some(StreamOption::Stream(stream)), Some(CountOption::Count(count))) => {
                self.read_stream(stream, count, encode)?
            }
            (Some(StreamOption::All(all)), Some(CountOption::Count(count))) => {
                let log = self.shared.log();
                let from = match all.all_option {
                    // Inclusive, as the real server reads $all from a position.
                    Some(AllOption::Position(p)) => log.index_from(p.commit_position),
                    Some(AllOption::End(())) => log.len(),
                    Some(AllOption::Start(())) | None => 0,
                };
                let (events, _) = log.scan(from, to_usize(count), usize::MAX, |e| filter.keep(e));
                events.iter().map(encode).collect()
            }
            (Some(StreamOption::All(all)), Some(CountOption::Subscription(_))) => {
                return Ok(Response::new(self.subscribe(all, filter, encode)));
            }
            (Some(StreamOption::Stream(_)), Some(CountOption::Subscription(_))) => {
                return Err(Status::unimplemented(
                    "the double has no stream subscriptions",
                ));
            }
            _ => {
                return Err(Status::invalid_argument(
                    "a stream and a count are required",
                ));
            }
        };
        Ok(Response::new(
            stream::iter(replies.into_iter().map(Ok)).boxed(),
        ))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        let mut incoming = request.into_inner();
        let Some(append_req::Content::Options(options)) =
            incoming.message().await?.and_then(|m| m.content)
        else {
            return Err(Status::invalid_argument(
                "an append starts with its options",
            ));
        };
        let stream = stream_name(options.stream_identifier)?;
        let expected = match options.expected_stream_revision {
            Some(append_req::options::ExpectedStreamRevision::Revision(n)) => Expected::Exact(n),
            Some(append_req::options::ExpectedStreamRevision::NoStream(())) => Expected::NoStream,
            Some(append_req::options::ExpectedStreamRevision::Any(())) => Expected::Any,
            Some(append_req::options::ExpectedStreamRevision::StreamExists(())) => {
                Expected::StreamExists
            }
            None => return Err(Status::invalid_argument("an expected revision is required")),
        };
        // Everything arrives before anything is written: a connection lost mid-append
        // writes nothing.
        let mut events = Vec::new();
        while let Some(message) = incoming.message().await? {
            match message.content {
                Some(append_req::Content::ProposedMessage(m)) => events.push(Proposed {
                    id: event_id(m.id)?,
                    metadata: m.metadata,
                    custom_metadata: m.custom_metadata,
                    data: m.data,
                }),
                _ => return Err(Status::invalid_argument("options sent twice")),
            }
        }
        let outcome = {
            let mut log = self.shared.log();
            let outcome = log.append(&stream, expected, events);
            if matches!(outcome, Outcome::Written { .. }) {
                self.shared.head.send_replace(log.len());
            }
            outcome
        };
        Ok(Response::new(append_reply(outcome, expected)))
    }
}

impl StreamsService {
    fn read_stream(
        &self,
        options: read_options::StreamOptions,
        count: u64,
        encode: impl Fn(&Stored) -> ReadResp,
    ) -> Result<Vec<ReadResp>, Status> {
        let identifier = options.stream_identifier.clone();
        let name = stream_name(options.stream_identifier)?;
        let from = match options.revision_option {
            Some(RevisionOption::Revision(n)) => n,
            Some(RevisionOption::End(())) => u64::MAX,
            Some(RevisionOption::Start(())) | None => 0,
        };
        Ok(
            match self.shared.log().read_stream(&name, from, to_usize(count)) {
                Some(events) => events.iter().map(encode).collect(),
                None => vec![content(read_resp::Content::StreamNotFound(
                    read_resp::StreamNotFound {
                        stream_identifier: identifier,
                    },
                ))],
            },
        )
    }

    /// A `$all` subscription: confirmation, the events after the start (exclusive), a
    /// caught-up notice, then live events, with checkpoints when filtered.
    ///
    /// It never ends the response stream itself: it runs until the client goes away or the
    /// server's connection is dropped (a stop). A crash ends no stream cleanly, and the
    /// kurrentdb client (1.2) spins on a subscription stream that ends without an error.
    fn subscribe(
        &self,
        all: AllOptions,
        filter: Filter,
        encode: impl Fn(&Stored) -> ReadResp + Send + 'static,
    ) -> ReadStream {
        let (tx, rx) = mpsc::channel(256);
        self.shared.subscriptions.fetch_add(1, Ordering::SeqCst);
        let open = OpenGuard::new(self.shared.open.clone());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let _open = open;
            let send = |message: ReadResp| {
                let tx = &tx;
                async move { tx.send(Ok(message)).await.is_ok() }
            };
            let confirmation = read_resp::SubscriptionConfirmation {
                subscription_id: Uuid::now_v7().to_string(),
            };
            if !send(content(read_resp::Content::Confirmation(confirmation))).await {
                return;
            }
            let mut head = shared.head.subscribe();
            let mut next = {
                let log = shared.log();
                match all.all_option {
                    Some(AllOption::Position(p)) => {
                        log.index_from(p.commit_position.saturating_add(1))
                    }
                    Some(AllOption::End(())) => log.len(),
                    Some(AllOption::Start(())) | None => 0,
                }
            };
            let broken = shared.take_break();
            let mut caught_up = false;
            loop {
                head.borrow_and_update();
                let (events, scanned_to, len, last_scanned) = {
                    let log = shared.log();
                    let (events, at) =
                        log.scan(next, SUBSCRIPTION_BATCH, SCAN_WINDOW, |e| filter.keep(e));
                    let last = at.checked_sub(1).map(|i| log.position_at(i));
                    (events, at, log.len(), last)
                };
                let scanned = scanned_to > next;
                next = scanned_to;
                for event in &events {
                    if !send(encode(event)).await {
                        return;
                    }
                }
                if broken && !events.is_empty() {
                    // A reply the client never expects inside a subscription: a fault for
                    // tests of the adapter's supervision. The stream then stays open.
                    let _ = send(content(read_resp::Content::StreamNotFound(
                        read_resp::StreamNotFound::default(),
                    )))
                    .await;
                    tx.closed().await;
                    return;
                }
                if let (true, false, Some(position)) = (scanned, filter.is_none(), last_scanned) {
                    let checkpoint = read_resp::Checkpoint {
                        commit_position: position,
                        prepare_position: position,
                        timestamp: Some(std::time::SystemTime::now().into()),
                    };
                    if !send(content(read_resp::Content::Checkpoint(checkpoint))).await {
                        return;
                    }
                }
                if next < len {
                    continue;
                }
                if !caught_up {
                    caught_up = true;
                    let at = last_scanned.map(|p| AllStreamPosition {
                        commit_position: p,
                        prepare_position: p,
                    });
                    let notice = read_resp::CaughtUp {
                        timestamp: Some(std::time::SystemTime::now().into()),
                        stream_revision: None,
                        position: at,
                    };
                    if !send(content(read_resp::Content::CaughtUp(notice))).await {
                        return;
                    }
                }
                tokio::select! {
                    () = tx.closed() => return,
                    changed = head.changed() => if changed.is_err() { return },
                }
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }).boxed()
    }
}

/// Counts a subscription as open for as long as its task lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A server-side filter on `$all`: by stream name prefix or by event type prefix.
enum Filter {
    None,
    StreamPrefixes(Vec<String>),
    TypePrefixes(Vec<String>),
}

impl Filter {
    fn from_option(option: Option<FilterOption>) -> Result<Self, Status> {
        let Some(FilterOption::Filter(options)) = option else {
            return Ok(Self::None);
        };
        let (expression, by_stream) = match options.filter {
            Some(filter_options::Filter::StreamIdentifier(e)) => (e, true),
            Some(filter_options::Filter::EventType(e)) => (e, false),
            None => return Ok(Self::None),
        };
        if !expression.regex.is_empty() {
            return Err(Status::unimplemented(
                "the double models prefix filters only, not regular expressions",
            ));
        }
        Ok(if by_stream {
            Self::StreamPrefixes(expression.prefix)
        } else {
            Self::TypePrefixes(expression.prefix)
        })
    }

    fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    fn keep(&self, event: &Stored) -> bool {
        let starts = |prefixes: &[String], text: &str| prefixes.iter().any(|p| text.starts_with(p));
        match self {
            Self::None => true,
            Self::StreamPrefixes(prefixes) => starts(prefixes, &event.stream),
            Self::TypePrefixes(prefixes) => event
                .metadata
                .get("type")
                .is_some_and(|t| starts(prefixes, t)),
        }
    }
}

fn content(content: read_resp::Content) -> ReadResp {
    ReadResp {
        content: Some(content),
    }
}

fn event_message(event: &Stored, id_as_text: bool) -> ReadResp {
    let id = if id_as_text {
        proto_uuid::Value::String(event.id.to_string())
    } else {
        let bits = event.id.as_u128();
        proto_uuid::Value::Structured(proto_uuid::Structured {
            most_significant_bits: (bits >> 64) as u64 as i64,
            least_significant_bits: bits as u64 as i64,
        })
    };
    let recorded = read_resp::read_event::RecordedEvent {
        id: Some(ProtoUuid { value: Some(id) }),
        stream_identifier: Some(StreamIdentifier {
            stream_name: event.stream.clone().into_bytes().into(),
        }),
        stream_revision: event.revision,
        prepare_position: event.position,
        commit_position: event.position,
        metadata: event.metadata.clone(),
        custom_metadata: event.custom_metadata.clone(),
        data: event.data.clone(),
    };
    content(read_resp::Content::Event(read_resp::ReadEvent {
        event: Some(recorded),
        link: None,
        position: Some(read_resp::read_event::Position::CommitPosition(
            event.position,
        )),
    }))
}

fn append_reply(outcome: Outcome, expected: Expected) -> AppendResp {
    use append_resp::{success, wrong_expected_version as wrong};
    let result = match outcome {
        Outcome::Written { revision, position } => {
            append_resp::Result::Success(append_resp::Success {
                current_revision_option: Some(success::CurrentRevisionOption::CurrentRevision(
                    revision,
                )),
                position_option: Some(success::PositionOption::Position(AllStreamPosition {
                    commit_position: position,
                    prepare_position: position,
                })),
            })
        }
        Outcome::Unchanged { revision } => append_resp::Result::Success(append_resp::Success {
            current_revision_option: Some(match revision {
                Some(r) => success::CurrentRevisionOption::CurrentRevision(r),
                None => success::CurrentRevisionOption::NoStream(()),
            }),
            position_option: Some(success::PositionOption::NoPosition(())),
        }),
        Outcome::WrongExpectedVersion { current } => {
            append_resp::Result::WrongExpectedVersion(append_resp::WrongExpectedVersion {
                current_revision_option: Some(match current {
                    Some(r) => wrong::CurrentRevisionOption::CurrentRevision(r),
                    None => wrong::CurrentRevisionOption::CurrentNoStream(()),
                }),
                expected_revision_option: Some(match expected {
                    Expected::Exact(n) => wrong::ExpectedRevisionOption::ExpectedRevision(n),
                    Expected::Any => wrong::ExpectedRevisionOption::ExpectedAny(()),
                    Expected::StreamExists => {
                        wrong::ExpectedRevisionOption::ExpectedStreamExists(())
                    }
                    Expected::NoStream => wrong::ExpectedRevisionOption::ExpectedNoStream(()),
                }),
            })
        }
    };
    AppendResp {
        result: Some(result),
    }
}

fn stream_name(identifier: Option<StreamIdentifier>) -> Result<String, Status> {
    let identifier =
        identifier.ok_or_else(|| Status::invalid_argument("a stream identifier is required"))?;
    String::from_utf8(identifier.stream_name.to_vec())
        .map_err(|_| Status::invalid_argument("stream names are UTF-8"))
}

fn event_id(id: Option<ProtoUuid>) -> Result<Uuid, Status> {
    match id.and_then(|id| id.value) {
        Some(proto_uuid::Value::Structured(s)) => {
            let bits = (u128::from(s.most_significant_bits as u64) << 64)
                | u128::from(s.least_significant_bits as u64);
            Ok(Uuid::from_u128(bits))
        }
        Some(proto_uuid::Value::String(text)) => text
            .parse()
            .map_err(|_| Status::invalid_argument("an event id is a UUID")),
        None => Err(Status::invalid_argument("every event needs an id")),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
