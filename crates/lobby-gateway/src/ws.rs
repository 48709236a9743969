//! `ws /lobbies/ws/{lobby_id}[?after=<position>]`: a member's live connection to a lobby.
//!
//! The member joins its train's channel first and only then replays what it missed since
//! `after` from the log; live events at or below the replayed position are skipped, so every
//! event arrives exactly once, in order. Text the member sends is chat for the others. Every
//! refusal and ending is a close frame with a code: 1008 unknown lobby (or `resync`, further
//! behind than a replay may go), 1009 message too big, 1013 over a connection cap (the instance's or the client's) or too slow, 1001 shutdown or
//! idle (nothing heard, not even a pong, for `GATEWAY_WS_IDLE_MS`), 1000 lobby closed. Chat over
//! a member's limit is answered `{"type":"error","detail":"Chat rate limit"}` and not sent on.
//!
//! With `AUTH=required` the upgrade itself needs a token (the `Authorization` header, or
//! `?access_token=` for browsers, which cannot set headers on one): without a valid one the
//! answer is an HTTP 401 and no socket is opened. The token is checked once, at the upgrade;
//! a member stays until it leaves, even past the token's expiry.

use crate::AppState;
use crate::feed::{self, Message as LobbyMessage, Outgoing};
use auth::SocketAccess;
use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use domain::{LobbyId, TrainId};
use event_store::{EventStore, Position};
use http_kit::ApiError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

/// Bytes read from a member's socket at a time.
const READ_BUFFER: usize = 4 * 1024;
/// Most bytes waiting to be written to one member.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// A websocket: first `{"type":"welcome",...}`, then the lobby's messages (see README) and
/// chat. The lobby is checked after the upgrade: an unknown one closes with 1008.
#[utoipa::path(
    get, path = "/lobbies/ws/{lobby_id}", operation_id = "lobby_websocket", tag = "lobbies",
    params(
        ("lobby_id" = i64, Path),
        ("after" = Option<String>, Query, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "The last position this member saw; what came after it is replayed first"),
        ("access_token" = Option<String>, Query, description = "The access token, for clients that cannot set `Authorization` on an upgrade (browsers); the header wins"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the websocket protocol (send the usual Upgrade headers)"),
        (status = 400, description = "Not a websocket upgrade request", body = http_kit::openapi::Detail),
        (status = 401, description = "No valid access token (AUTH=required); checked before the upgrade", body = http_kit::openapi::Detail),
    ),
)]
pub(crate) async fn connect(
    State(state): State<AppState>,
    // Before the upgrade, so a refusal is a plain HTTP 401 (also to a request that is not an
    // upgrade at all: who asks comes before how).
    _: SocketAccess,
    Path(lobby): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::BadRequest("Expected a websocket upgrade".into()).into_response();
    };
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let client = peer.map_or_else(
        || "unknown".to_owned(),
        |Extension(ConnectInfo(peer))| {
            let proxies = &state.inner.settings.trusted_proxies;
            proxies.client(forwarded, peer.ip())
        },
    );
    let limit = state.inner.settings.ws_max_message_bytes;
    let after = query.as_deref().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("after="))
            .map(str::to_owned)
    });
    // The library's defaults buffer 128 KiB each way per connection; lobby traffic is small
    // messages, each flushed as it is sent, so small buffers keep a member cheap, and the
    // bounded write buffer caps what one stuck member can hold.
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER.max(limit * 2))
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let tracker = state.inner.tracker.clone();
            tracker.track_future(session(state, socket, lobby, after, client))
        })
}

/// Why a session ends, as a close frame.
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: &str) -> Self {
        Self(code, reason.to_owned())
    }
}

async fn session(
    state: AppState,
    mut socket: WebSocket,
    lobby: String,
    after: Option<String>,
    client: String,
) {
    let close = match serve(&state, &mut socket, &lobby, after, client).await {
        Ok(()) => return,
        Err(close) => close,
    };
    let frame = CloseFrame {
        code: close.0,
        reason: close.1.into(),
    };
    // Under the same deadline as any send: a member that reads nothing, not even this frame,
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

/// Runs one member until it leaves (`Ok`) or must be closed (`Err` with the frame).
async fn serve(
    state: &AppState,
    socket: &mut WebSocket,
    lobby: &str,
    after: Option<String>,
    client: String,
) -> Result<(), Close> {
    let inner = &state.inner;
    let _permit = inner
        .sockets
        .clone()
        .try_acquire_owned()
        .map_err(|_| Close::new(1013, "Too many connections, try again later"))?;
    let _client_permit = ClientSockets::enter(&inner.client_sockets, client)
        .ok_or_else(|| Close::new(1013, "Too many connections from this client"))?;
    let found = match lobby.parse::<i64>() {
        Ok(id) => crate::lobbies::find(state, id)
            .await
            .map_err(|_| Close::new(1011, "Lobby service unavailable, try again later"))?,
        Err(_) => None,
    };
    let lobby = found.ok_or_else(|| Close::new(1008, "Lobby not found"))?;
    let after: Option<Position> = after
        .map(|raw| raw.parse())
        .transpose()
        .map_err(|_| Close::new(1008, "after must be a position such as 1234.56"))?;
    let (train_id, lobby_id) = (TrainId(lobby.train_id), LobbyId(lobby.id));
    let member = uuid::Uuid::now_v7().simple().to_string();
    let settings = &inner.settings;
    let send_timeout = Duration::from_millis(settings.ws_send_timeout_ms);
    let idle = Duration::from_millis(settings.ws_idle_ms);
    let ping_every = Duration::from_millis(settings.ws_ping_ms);
    let mut pings = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut heard = Instant::now();
    let mut chat = ChatWindow::new(settings.chat_limit, settings.chat_window_ms);
    let mut link = Link {
        socket,
        send_timeout,
        last: after,
    };

    // Join before replaying: whatever the feed fans out from now on reaches us, and whatever
    // it fanned out before is already in the log for the replay.
    let (mut membership, joined_at) = inner.hub.join(train_id);
    let welcome = LobbyMessage::Welcome {
        lobby_id,
        train_id,
        position: after.or(joined_at).map(|p| p.to_string()),
        member: member.clone(),
    };
    link.send(&Outgoing::new(&welcome).text).await?;
    if let Some(after) = after {
        replay(state, &mut link, train_id, lobby_id, after).await?;
    }

    loop {
        tokio::select! {
            () = inner.shutdown.cancelled() => {
                return Err(Close::new(1001, "Server shutting down"));
            }
            received = membership.receiver.recv() => match received {
                Ok(outgoing) => link.deliver(&outgoing, &member, lobby_id).await?,
                Err(RecvError::Lagged(_)) => {
                    let reason = match link.last {
                        Some(at) => format!("Too slow; reconnect with after={at}"),
                        None => "Too slow; reconnect".to_owned(),
                    };
                    return Err(Close(1013, reason));
                }
                Err(RecvError::Closed) => return Err(Close::new(1011, "Lobby feed stopped")),
            },
            _ = pings.tick() => {
                if heard.elapsed() >= idle {
                    return Err(Close::new(1001, "Idle timeout"));
                }
                link.ping().await?;
            }
            incoming = link.socket.recv() => {
                heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let text = text.as_str().trim();
                        if !text.is_empty() && !chat.allows(heard) {
                            link.send(CHAT_LIMITED).await?;
                        } else if !text.is_empty() {
                            inner.chat.say(train_id, lobby_id, &member, text.to_owned()).await;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(read_error(e)),
                }
            }
        }
    }
}

/// Sends what the member missed after `after`: the events of the train's and the lobby's own
/// streams past that position, in log order (never a walk over the whole log). A member
/// further behind than `GATEWAY_WS_REPLAY_MAX` events is closed with 1008 `resync`: it should
/// read the lobby and the train afresh and reconnect without `after`.
async fn replay(
    state: &AppState,
    link: &mut Link<'_>,
    train_id: TrainId,
    lobby_id: LobbyId,
    after: Position,
) -> Result<(), Close> {
    // The busy train stream is read between two reads of the lobby's short one: an event
    // appended to either while they are read then comes live with a position past all that
    // was replayed, so the live side never skips it as seen (but for a lobby event and a
    // train event both landing between the last two reads).
    let (lobby_stream, train_stream) = (train_id.lobby_stream(), train_id.stream());
    let mut missed = Vec::new();
    for stream in [&lobby_stream, &train_stream, &lobby_stream] {
        let events = state
            .inner
            .store
            .read_stream(stream)
            .await
            .map_err(|_| Close::new(1011, "Cannot replay now, try again later"))?;
        missed.extend(events.into_iter().filter(|event| event.position > after));
    }
    missed.sort_by_key(|event| event.position);
    missed.dedup_by_key(|event| event.position);
    if missed.len() > state.inner.settings.ws_replay_max {
        return Err(Close::new(1008, "resync"));
    }
    for event in &missed {
        if let Some((_, outgoing)) = feed::message(event) {
            link.deliver(&outgoing, "", lobby_id).await?;
        }
    }
    // Past what was read, whether or not it made a message: live events at or below it were
    // replayed already.
    if let Some(last) = missed.last() {
        link.last = Some(last.position);
    }
    Ok(())
}

/// The sending half of a member's socket, with what it has seen.
struct Link<'a> {
    socket: &'a mut WebSocket,
    send_timeout: Duration,
    /// The last log position delivered (or replayed past).
    last: Option<Position>,
}

impl Link<'_> {
    /// A ping, under the same deadline as any send: a member whose socket is stuck is dropped.
    async fn ping(&mut self) -> Result<(), Close> {
        let sent = tokio::time::timeout(
            self.send_timeout,
            self.socket.send(Message::Ping(Default::default())),
        )
        .await;
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Close::new(1011, "Send failed")),
            Err(_) => Err(Close::new(1013, "Too slow; reconnect")),
        }
    }

    async fn send(&mut self, text: &str) -> Result<(), Close> {
        let sent = tokio::time::timeout(
            self.send_timeout,
            self.socket.send(Message::Text(text.into())),
        )
        .await;
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Close::new(1011, "Send failed")),
            Err(_) => Err(Close::new(1013, "Too slow; reconnect")),
        }
    }

    /// Sends one broadcast unless the member has it already or sent it.
    async fn deliver(
        &mut self,
        outgoing: &Outgoing,
        member: &str,
        lobby_id: LobbyId,
    ) -> Result<(), Close> {
        if let Some(position) = outgoing.position {
            if self.last.is_some_and(|last| position <= last) {
                return Ok(());
            }
            self.last = Some(position);
        }
        if outgoing.from.as_deref() == Some(member) {
            return Ok(());
        }
        self.send(&outgoing.text).await?;
        if outgoing.closes == Some(lobby_id) {
            return Err(Close::new(1000, "Lobby closed"));
        }
        Ok(())
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

/// What a member is told when it chats faster than its limit.
const CHAT_LIMITED: &str = r#"{"type":"error","detail":"Chat rate limit"}"#;

/// One member's chat: a fixed window of `limit` lines.
struct ChatWindow {
    limit: u32,
    length: Duration,
    started: Instant,
    said: u32,
}

impl ChatWindow {
    fn new(limit: u32, length_ms: u64) -> Self {
        Self {
            limit,
            length: Duration::from_millis(length_ms),
            started: Instant::now(),
            said: 0,
        }
    }

    /// Whether one more line may be said at `now`; counts it if so.
    fn allows(&mut self, now: Instant) -> bool {
        if now.duration_since(self.started) >= self.length {
            (self.started, self.said) = (now, 0);
        }
        if self.said >= self.limit {
            return false;
        }
        self.said += 1;
        true
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
    fn a_member_chats_up_to_its_limit_per_window() {
        let mut window = ChatWindow::new(2, 1_000);
        let start = window.started;
        assert!(window.allows(start));
        assert!(window.allows(start + Duration::from_millis(10)));
        assert!(!window.allows(start + Duration::from_millis(999)));
        assert!(window.allows(start + Duration::from_millis(1_000)));
    }

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
