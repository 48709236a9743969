//! `ws /ws/me[?after=<position>]` (also `/ls/ws/me`): the signed-in user's own notifications,
//! about their orders (`notice.rs` says which and how), on each of their devices.
//!
//! It is a lobby socket in all but what it carries (`socket.rs`): the same token handling,
//! caps, pings, limits and drop of a slow client. The socket joins its user's channel first and
//! only then replays what it missed since `after`, from the order streams of the log; live
//! messages at or below the replayed position are skipped, so every message arrives once, in
//! order. It only talks: what a client sends is ignored (but counts as a sign of life).
//!
//! Who the user is comes from the token, checked once, at the upgrade. With `AUTH=off` nobody
//! is signed in, so there is nobody to notify: the upgrade is refused with the same 401 as a
//! missing token, rather than opening a socket that could never carry anything.

mod notice;

pub(crate) use notice::notice;

use crate::AppState;
use crate::feed;
use crate::hub::Topic;
use crate::socket::{self, Close, Link, Next, Permits, Upgrade};
use auth::SocketAccess;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocket;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::{DomainEvent, OrderId, UserId};
use event_store::{EventStore, Filter, Position};
use http_kit::ApiError;
use notice::Notice;

/// Order events read from the log at a time while replaying.
const REPLAY_PAGE: usize = 500;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/ws/me", get(connect))
}

/// A websocket: first `{"type":"welcome","position":...}`, then a message for each step of the
/// caller's orders that concerns them (see README), on every socket they have open.
#[utoipa::path(
    get, path = "/ws/me", operation_id = "my_websocket", tag = "notifications",
    params(
        ("after" = Option<String>, Query, pattern = r"^[0-9]{1,19}\.[0-9]{1,19}$", description = "The last position this socket saw; the caller's messages after it are replayed first"),
        ("access_token" = Option<String>, Query, description = "The access token, for clients that cannot set `Authorization` on an upgrade (browsers); the header wins"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the websocket protocol (send the usual Upgrade headers)"),
        (status = 400, description = "Not a websocket upgrade request", body = http_kit::openapi::Detail),
        (status = 401, description = "No valid access token, or AUTH=off (nobody signed in to notify); checked before the upgrade", body = http_kit::openapi::Detail),
    ),
)]
pub(crate) async fn connect(
    State(state): State<AppState>,
    SocketAccess(access): SocketAccess,
    // Taken as a result so that who asks comes before how, with `AUTH=off` too.
    upgrade: Result<Upgrade, ApiError>,
) -> Response {
    let Some(owner) = access.actor() else {
        return ApiError::NotAuthenticated.into_response();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.into_response(),
    };
    let for_session = state.clone();
    upgrade.start(&state, move |socket, client, after| {
        session(for_session, socket, owner, after, client)
    })
}

async fn session(
    state: AppState,
    mut socket: WebSocket,
    owner: UserId,
    after: Option<String>,
    client: String,
) {
    let ended = serve(&state, &mut socket, owner, after, client).await;
    socket::end(&state, socket, ended).await;
}

/// Runs one socket until the client leaves (`Ok`) or it must be closed (`Err` with the frame).
async fn serve(
    state: &AppState,
    socket: &mut WebSocket,
    owner: UserId,
    after: Option<String>,
    client: String,
) -> Result<(), Close> {
    let _permits = Permits::take(state, client)?;
    let after = socket::after(after)?;
    let mut link = Link::new(state, socket, after);
    // Join before replaying, as a lobby member does: whatever the feed fans out from now on
    // reaches us, and whatever it fanned out before is in the log for the replay.
    let (mut subscription, joined_at) = state.inner.hub.join(Topic::User(owner));
    let welcome = Notice::Welcome {
        position: after.or(joined_at).map(|p| p.to_string()),
    };
    link.send(&serde_json::to_string(&welcome).unwrap_or_default())
        .await?;
    if let Some(after) = after {
        replay(state, &mut link, owner, after, joined_at).await?;
    }
    loop {
        match link.next(&mut subscription.receiver).await? {
            Next::Broadcast(outgoing) => {
                if link.is_new(outgoing.position) {
                    link.send(&outgoing.text).await?;
                }
            }
            Next::Text(_) => {}
            Next::Left => return Ok(()),
        }
    }
}

/// Sends the owner's messages after `after`: the order streams' events from there up to where
/// the socket joined the feed (later ones come live), a page at a time, keeping the owner's. A
/// socket that missed more than `GATEWAY_WS_REPLAY_MAX` of the owner's events (whether or not
/// they made a message, as a lobby counts them) is closed with 1008 `resync`: it should read
/// its orders afresh and reconnect without `after`. The walk passes over other users' order
/// events too: memory holds one page and the owner's few, but time grows with how far back
/// `after` is.
async fn replay(
    state: &AppState,
    link: &mut Link<'_>,
    owner: UserId,
    after: Position,
    joined_at: Option<Position>,
) -> Result<(), Close> {
    let max = state.inner.settings.ws_replay_max;
    let filter = Filter::prefixes([OrderId::STREAM_PREFIX]);
    let mut missed = Vec::new();
    let mut owners_events = 0_usize;
    let mut read_to = after;
    // Without a position the feed has fanned nothing out yet: read to the end of the log.
    let before_join = |position: Position| joined_at.is_none_or(|joined| position <= joined);
    'pages: loop {
        let page = state
            .inner
            .store
            .read_all(Some(read_to), &filter, REPLAY_PAGE)
            .await
            .map_err(|_| Close::new(1011, "Cannot replay now, try again later"))?;
        let last_page = page.len() < REPLAY_PAGE;
        for event in page {
            if !before_join(event.position) {
                break 'pages;
            }
            read_to = event.position;
            let Some(DomainEvent::Order(order)) = feed::decode(&event) else {
                continue;
            };
            if order.owner() != owner {
                continue;
            }
            owners_events += 1;
            if owners_events > max {
                return Err(Close::new(1008, "resync"));
            }
            missed.extend(notice(&order, event.position));
        }
        if last_page {
            break;
        }
    }
    for outgoing in &missed {
        if link.is_new(outgoing.position) {
            link.send(&outgoing.text).await?;
        }
    }
    // Past what was read, whether or not it made a message: every order event up to it was
    // looked at, so a live message at or below it was replayed already or is not ours.
    link.last = link.last.max(Some(read_to));
    Ok(())
}
