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
//! a member stays until it leaves, even past the token's expiry. What every socket of the
//! gateway shares (the upgrade, caps, pings, sends, close frames) is in `socket.rs`.

use crate::AppState;
use crate::feed::{self, Message as LobbyMessage, Outgoing};
use crate::hub::Topic;
use crate::socket::{self, Close, Link, Next, Permits, Upgrade};
use auth::SocketAccess;
use axum::extract::ws::WebSocket;
use axum::extract::{Path, State};
use axum::response::Response;
use domain::{LobbyId, TrainId};
use event_store::{EventStore, Position};
use std::time::Duration;
use tokio::time::Instant;

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
    upgrade: Upgrade,
) -> Response {
    let for_session = state.clone();
    upgrade.start(&state, move |socket, client, after| {
        session(for_session, socket, lobby, after, client)
    })
}

async fn session(
    state: AppState,
    mut socket: WebSocket,
    lobby: String,
    after: Option<String>,
    client: String,
) {
    let ended = serve(&state, &mut socket, &lobby, after, client).await;
    socket::end(&state, socket, ended).await;
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
    let _permits = Permits::take(state, client)?;
    let found = match lobby.parse::<i64>() {
        Ok(id) => crate::lobbies::find(state, id)
            .await
            .map_err(|_| Close::new(1011, "Lobby service unavailable, try again later"))?,
        Err(_) => None,
    };
    let lobby = found.ok_or_else(|| Close::new(1008, "Lobby not found"))?;
    let after = socket::after(after)?;
    let (train_id, lobby_id) = (TrainId(lobby.train_id), LobbyId(lobby.id));
    let member = uuid::Uuid::now_v7().simple().to_string();
    let settings = &inner.settings;
    let mut chat = ChatWindow::new(settings.chat_limit, settings.chat_window_ms);
    let mut link = Link::new(state, socket, after);

    // Join before replaying: whatever the feed fans out from now on reaches us, and whatever
    // it fanned out before is already in the log for the replay.
    let (mut membership, joined_at) = inner.hub.join(Topic::Train(train_id));
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
        match link.next(&mut membership.receiver).await? {
            Next::Broadcast(outgoing) => deliver(&mut link, &outgoing, &member, lobby_id).await?,
            Next::Text(text) => {
                let text = text.as_str().trim();
                if !text.is_empty() && !chat.allows(Instant::now()) {
                    link.send(CHAT_LIMITED).await?;
                } else if !text.is_empty() {
                    inner
                        .chat
                        .say(train_id, lobby_id, &member, text.to_owned())
                        .await;
                }
            }
            Next::Left => return Ok(()),
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
            deliver(link, &outgoing, "", lobby_id).await?;
        }
    }
    // Past what was read, whether or not it made a message: live events at or below it were
    // replayed already.
    if let Some(last) = missed.last() {
        link.last = Some(last.position);
    }
    Ok(())
}

/// Sends one broadcast unless the member has it already or sent it; a `lobby_closed` of its
/// lobby ends the session.
async fn deliver(
    link: &mut Link<'_>,
    outgoing: &Outgoing,
    member: &str,
    lobby_id: LobbyId,
) -> Result<(), Close> {
    if !link.is_new(outgoing.position) || outgoing.from.as_deref() == Some(member) {
        return Ok(());
    }
    link.send(&outgoing.text).await?;
    if outgoing.closes == Some(lobby_id) {
        return Err(Close::new(1000, "Lobby closed"));
    }
    Ok(())
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
}
