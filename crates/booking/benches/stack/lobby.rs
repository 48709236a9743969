//! (f) Lobby push: many websocket members of one lobby, and the time from a booking's append
//! to its arrival at every member. The clock starts just before the append, which this
//! process makes straight to the event store (through the command API's own executor), so
//! the figure is append commit + log subscription + fan-out + the client reading it; the
//! gateway is a separate process, so its memory per connection excludes the clients'.

use crate::report::{Percentiles, Row};
use crate::roles::Role;
use anyhow::{Context, bail};
use chrono::Utc;
use commands::{Executor, ExecutorSettings, Ids};
use domain::{Train, TrainCommand, TrainId};
use event_store::{AnyStore, PgEventStore};
use futures_util::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub struct Push {
    pub members: usize,
    pub rounds: usize,
    pub latency: Percentiles,
    /// Deliveries that never came (a member dropped, or the wait ran out).
    pub missing: usize,
    /// Growth of the gateway's resident memory from one member to all, per extra member.
    pub kib_per_connection: f64,
    pub connect_time: Duration,
}

impl Push {
    pub fn row(&self) -> Row {
        Row::new(
            format!("(f) lobby push: append -> {} members", self.members),
            format!(
                "{} deliveries of {} bookings, {} missing, max {:.1} ms; {:.1} KiB per connection; joined in {:.1} s",
                self.latency.count,
                self.rounds,
                self.missing,
                self.latency.max.as_secs_f64() * 1e3,
                self.kib_per_connection,
                self.connect_time.as_secs_f64()
            ),
        )
        .latency(self.latency.p50, self.latency.p99)
        .target(
            "p99 <= 100 ms, <= 16 KiB/conn",
            self.latency.p99 <= Duration::from_millis(100)
                && self.kib_per_connection <= 16.0
                && self.missing == 0,
        )
    }
}

/// The one field of a lobby message the clients look at. Reading just it, not a whole JSON
/// value, keeps ten thousand clients on the same two cores from eating into the gateway's
/// share more than they must.
#[derive(serde::Deserialize)]
struct Pushed {
    booking_id: Option<i64>,
}

/// Opens connections a few at a time: a burst of thousands of handshakes at once would
/// measure the listen backlog, not the gateway.
const CONNECTING_AT_ONCE: usize = 64;

pub async fn measure(
    http: &reqwest::Client,
    gateway: &Role,
    address: &str,
    log: sqlx::PgPool,
    train: i64,
    members: usize,
    rounds: usize,
) -> anyhow::Result<Push> {
    let lobby: i64 = http
        .post(format!("http://{address}/lobbies"))
        .json(&serde_json::json!({ "train_id": train }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let url = format!("ws://{address}/lobbies/ws/{lobby}");
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let started = Instant::now();
    // One member first, so the baseline holds what any first connection allocates.
    join(&url, 0, arrivals.clone()).await?;
    let before = gateway.resident_kib()?;
    futures_util::stream::iter(1..members)
        .map(|member| join(&url, member, arrivals.clone()))
        .buffer_unordered(CONNECTING_AT_ONCE)
        .try_collect::<()>()
        .await?;
    let after = gateway.resident_kib()?;
    let connect_time = started.elapsed();

    let store = AnyStore::from(PgEventStore::new(log.clone()).await?);
    let ids = Ids::new(log);
    let trains = Executor::<Train>::new(
        store,
        ExecutorSettings::default(),
        tokio_util::task::TaskTracker::new(),
        tokio_util::sync::CancellationToken::new(),
    );
    let mut latencies = Vec::with_capacity(members * rounds);
    let mut missing = 0;
    for round in 0..rounds {
        let booking = ids.booking().await?;
        let command = TrainCommand::BookSeat {
            booking_id: booking,
            user_credentials: format!("lobby member {round}").into(),
            operator: true,
            at: Utc::now(),
        };
        let appended = Instant::now();
        trains
            .execute(TrainId(train), command)
            .await
            .map_err(|e| anyhow::anyhow!("booking failed: {e}"))?;
        let mut seen = 0;
        while seen < members {
            match tokio::time::timeout(Duration::from_secs(30), arrived.recv()).await {
                Ok(Some((id, at))) if id == booking.0 => {
                    latencies.push(at.saturating_duration_since(appended));
                    seen += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => bail!("every member is gone"),
                Err(_) => {
                    missing += members - seen;
                    break;
                }
            }
        }
    }
    Ok(Push {
        members,
        rounds,
        latency: Percentiles::of(latencies),
        missing,
        kib_per_connection: after.saturating_sub(before) as f64 / (members.max(2) - 1) as f64,
        connect_time,
    })
}

/// Joins the lobby and, once welcomed, reports each booking this member receives with the
/// moment it was read. Each member comes from its own (made-up) address, as members do, so
/// the gateway's per-client rate limit does not refuse the crowd.
async fn join(
    url: &str,
    member: usize,
    arrivals: mpsc::UnboundedSender<(i64, Instant)>,
) -> anyhow::Result<()> {
    let mut request = url.into_client_request()?;
    let address = format!("198.19.{}.{}", member / 250, member % 250);
    request
        .headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_str(&address)?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening a lobby websocket")?;
    socket.next().await.context("no welcome")??;
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let at = Instant::now();
            let booking = serde_json::from_str::<Pushed>(&text).ok();
            if let Some(id) = booking.and_then(|pushed| pushed.booking_id) {
                let _ = arrivals.send((id, at));
            }
        }
    });
    Ok(())
}
