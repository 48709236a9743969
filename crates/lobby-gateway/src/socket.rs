//! What every websocket of the gateway shares, a lobby member's (`ws.rs`) or a user's own
//! (`me.rs`): the upgrade with its buffer and message limits, the instance's and the client's
//! socket caps, pings and the idle timeout, sends under a deadline, the drop of a socket that
//! falls behind its channel, and the close frame a session ends with. Each socket's module
//! says only what it sends and what it does with what it hears.

use crate::AppState;
use crate::feed::Outgoing;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::Response;
use event_store::Position;
use http_kit::ApiError;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// Bytes read from a socket at a time.
const READ_BUFFER: usize = 4 * 1024;
/// Most bytes waiting to be written to one socket.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// A websocket upgrade, with who the client is (for its socket cap) and the `?after=` it
/// reconnects with, as sent. Not an upgrade at all: 400.
pub(crate) struct Upgrade {
    upgrade: WebSocketUpgrade,
    client: String,
    after: Option<String>,
}

impl FromRequestParts<AppState> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let upgrade = WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("Expected a websocket upgrade".into()))?;
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |ConnectInfo(peer)| {
                    let proxies = &state.inner.settings.trusted_proxies;
                    proxies.client(forwarded, peer.ip())
                },
            );
        let after = parts.uri.query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("after="))
                .map(str::to_owned)
        });
        Ok(Self {
            upgrade,
            client,
            after,
        })
    }
}

impl Upgrade {
    /// Switches protocols and runs `session` on the socket (with the client and `after`), as a
    /// task that `run` waits for.
    pub(crate) fn start<S, F>(self, state: &AppState, session: S) -> Response
    where
        S: FnOnce(WebSocket, String, Option<String>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let limit = state.inner.settings.ws_max_message_bytes;
        let tracker = state.inner.tracker.clone();
        let Self {
            upgrade,
            client,
            after,
        } = self;
        // The library's defaults buffer 128 KiB each way per connection; our traffic is small
        // messages, each flushed as it is sent, so small buffers keep a socket cheap, and the
        // bounded write buffer caps what one stuck client can hold.
        upgrade
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_WRITE_BUFFER.max(limit * 2))
            .max_message_size(limit)
            .max_frame_size(limit)
            .on_upgrade(move |socket| tracker.track_future(session(socket, client, after)))
    }
}

/// The `?after=` position a client reconnects with; anything else closes with 1008.
pub(crate) fn after(raw: Option<String>) -> Result<Option<Position>, Close> {
    raw.map(|raw| raw.parse())
        .transpose()
        .map_err(|_| Close::new(1008, "after must be a position such as 1234.56"))
}

/// Why a session ends, as a close frame.
pub(crate) struct Close(pub u16, pub String);

impl Close {
    pub(crate) fn new(code: u16, reason: &str) -> Self {
        Self(code, reason.to_owned())
    }
}

/// Ends a session that `ended` so: nothing more to say if the client left, else the close
/// frame, and a moment for the client to answer it.
pub(crate) async fn end(state: &AppState, mut socket: WebSocket, ended: Result<(), Close>) {
    let Err(close) = ended else {
        return;
    };
    let frame = CloseFrame {
        code: close.0,
        reason: close.1.into(),
    };
    // Under the same deadline as any send: a client that reads nothing, not even this frame,
    // would otherwise keep this task and its socket forever (they hold no connection permit
    // any more, so nothing would bound how many pile up) and hold up shutdown.
    let send_timeout = Duration::from_millis(state.inner.settings.ws_send_timeout_ms);
    let sent = tokio::time::timeout(send_timeout, socket.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        // Give the client a moment to answer the close, as the protocol asks.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A socket's places under the instance's cap and its client's, given back when dropped.
pub(crate) struct Permits {
    _instance: OwnedSemaphorePermit,
    _client: ClientSocket,
}

impl Permits {
    /// Places for one more socket of `client`, or the 1013 that refuses it.
    pub(crate) fn take(state: &AppState, client: String) -> Result<Self, Close> {
        let inner = &state.inner;
        let instance = inner
            .sockets
            .clone()
            .try_acquire_owned()
            .map_err(|_| Close::new(1013, "Too many connections, try again later"))?;
        let client = ClientSockets::enter(&inner.client_sockets, client)
            .ok_or_else(|| Close::new(1013, "Too many connections from this client"))?;
        Ok(Self {
            _instance: instance,
            _client: client,
        })
    }
}

/// What a socket's next turn brought.
pub(crate) enum Next {
    /// A message from the socket's channel.
    Broadcast(Arc<Outgoing>),
    /// Text the client sent.
    Text(Utf8Bytes),
    /// The client closed the socket.
    Left,
}

/// An open socket, with what it has seen and when it was last heard from.
pub(crate) struct Link<'a> {
    pub socket: &'a mut WebSocket,
    send_timeout: Duration,
    idle: Duration,
    pings: Interval,
    heard: Instant,
    shutdown: CancellationToken,
    /// The last log position delivered (or replayed past).
    pub last: Option<Position>,
}

impl<'a> Link<'a> {
    /// A link that has seen everything up to `after`.
    pub(crate) fn new(
        state: &AppState,
        socket: &'a mut WebSocket,
        after: Option<Position>,
    ) -> Self {
        let settings = &state.inner.settings;
        let ping_every = Duration::from_millis(settings.ws_ping_ms);
        Self {
            socket,
            send_timeout: Duration::from_millis(settings.ws_send_timeout_ms),
            idle: Duration::from_millis(settings.ws_idle_ms),
            pings: tokio::time::interval_at(Instant::now() + ping_every, ping_every),
            heard: Instant::now(),
            shutdown: state.inner.shutdown.clone(),
            last: after,
        }
    }

    /// Waits for the next broadcast on `receiver` or word from the client, pinging meanwhile.
    /// `Err` is the frame to close with: shutdown, idle, a read that failed, or a socket that
    /// fell more than its channel holds behind (it may reconnect after its last position).
    pub(crate) async fn next(
        &mut self,
        receiver: &mut broadcast::Receiver<Arc<Outgoing>>,
    ) -> Result<Next, Close> {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => {
                    return Err(Close::new(1001, "Server shutting down"));
                }
                received = receiver.recv() => return match received {
                    Ok(outgoing) => Ok(Next::Broadcast(outgoing)),
                    Err(RecvError::Lagged(_)) => Err(match self.last {
                        Some(at) => Close(1013, format!("Too slow; reconnect with after={at}")),
                        None => Close::new(1013, "Too slow; reconnect"),
                    }),
                    Err(RecvError::Closed) => Err(Close::new(1011, "Feed stopped")),
                },
                _ = self.pings.tick() => {
                    if self.heard.elapsed() >= self.idle {
                        return Err(Close::new(1001, "Idle timeout"));
                    }
                    self.ping().await?;
                }
                incoming = self.socket.recv() => {
                    self.heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => return Ok(Next::Text(text)),
                        Some(Ok(Message::Close(_))) | None => return Ok(Next::Left),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(read_error(e)),
                    }
                }
            }
        }
    }

    /// Whether a broadcast at `position` is news to this socket, noting it if so: what was
    /// replayed or sent already is not. One without a position (chat) always is.
    pub(crate) fn is_new(&mut self, position: Option<Position>) -> bool {
        let Some(position) = position else {
            return true;
        };
        if self.last.is_some_and(|last| position <= last) {
            return false;
        }
        self.last = Some(position);
        true
    }

    /// A ping, under the same deadline as any send: a socket that is stuck is dropped.
    async fn ping(&mut self) -> Result<(), Close> {
        self.put(Message::Ping(Default::default())).await
    }

    pub(crate) async fn send(&mut self, text: &str) -> Result<(), Close> {
        self.put(Message::Text(text.into())).await
    }

    async fn put(&mut self, message: Message) -> Result<(), Close> {
        match tokio::time::timeout(self.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Close::new(1011, "Send failed")),
            Err(_) => Err(Close::new(1013, "Too slow; reconnect")),
        }
    }
}

/// The close frame for a failed read: too big a message is 1009, anything else a protocol
/// error.
fn read_error(error: axum::Error) -> Close {
    let too_big = error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
    if too_big {
        Close::new(1009, "Message too big")
    } else {
        Close::new(1002, "Protocol error")
    }
}

/// Open websockets per client, so that one client cannot take every socket of an instance.
pub(crate) struct ClientSockets {
    per_client: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open socket of a client; dropping it gives the place back.
pub(crate) struct ClientSocket {
    sockets: Arc<ClientSockets>,
    client: String,
}

impl ClientSockets {
    pub(crate) fn new(per_client: u32) -> Self {
        Self {
            per_client: usize::try_from(per_client).unwrap_or(usize::MAX),
            open: Mutex::default(),
        }
    }

    /// A place for one more socket of `client`, unless it has all it may have.
    fn enter(sockets: &Arc<Self>, client: String) -> Option<ClientSocket> {
        let mut open = sockets.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client.clone()).or_insert(0);
        if *count >= sockets.per_client {
            return None;
        }
        *count += 1;
        Some(ClientSocket {
            sockets: Arc::clone(sockets),
            client,
        })
    }
}

impl Drop for ClientSocket {
    fn drop(&mut self) {
        let mut open = self
            .sockets
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_share_of_sockets_and_gets_them_back() {
        let sockets = Arc::new(ClientSockets::new(2));
        let first = ClientSockets::enter(&sockets, "a".into());
        let second = ClientSockets::enter(&sockets, "a".into());
        assert!(first.is_some() && second.is_some());
        assert!(ClientSockets::enter(&sockets, "a".into()).is_none());
        assert!(ClientSockets::enter(&sockets, "b".into()).is_some());
        drop(first);
        assert!(ClientSockets::enter(&sockets, "a".into()).is_some());
        drop(second);
    }
}
