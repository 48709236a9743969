//! A TCP proxy a test puts between a service and a real server (PostgreSQL, Redis, RabbitMQ)
//! to inject an outage without touching the server, which other tests share.
//!
//! [`Proxy::down`] resets every open connection (RST, as when a host or the network dies, not
//! a polite FIN a client might take for a normal close) and resets each new one as soon as it
//! arrives; [`Proxy::up`] forwards again. The listening socket stays bound throughout, so the
//! service's URL never changes and no other process can take the port in between.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether the proxy forwards, and how many times it went down: a pipe ends when the count
/// moves past the one it started under.
#[derive(Clone, Copy)]
struct State {
    up: bool,
    outages: u64,
}

pub struct Proxy {
    address: SocketAddr,
    state: Arc<watch::Sender<State>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards to `target` (`host:port`).
    pub async fn start(target: impl Into<String>) -> Self {
        let target = target.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let state = Arc::new(
            watch::channel(State {
                up: true,
                outages: 0,
            })
            .0,
        );
        let accept = tokio::spawn(accept(listener, target, state.clone()));
        Self {
            address,
            state,
            accept,
        }
    }

    /// `url` with its host and port replaced by the proxy's: the same service, through here.
    pub fn url(&self, url: &str) -> String {
        url.replacen(host_port(url), &self.address.to_string(), 1)
    }

    /// Resets every connection through the proxy and every new one until [`Self::up`].
    pub fn down(&self) {
        self.state.send_modify(|state| {
            state.up = false;
            state.outages += 1;
        });
    }

    /// Forwards new connections again.
    pub fn up(&self) {
        self.state.send_modify(|state| state.up = true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}

/// `host:port` of `url`, with `default_port` when the URL names none: what to start a
/// [`Proxy`] towards.
pub fn authority(url: &str, default_port: u16) -> String {
    let host_port = host_port(url);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
}

/// The host (and port, if any) of `url`, without scheme, credentials or path.
fn host_port(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
}

async fn accept(listener: TcpListener, target: String, state: Arc<watch::Sender<State>>) {
    while let Ok((client, _)) = listener.accept().await {
        let at = *state.borrow();
        if !at.up {
            reset(client);
            continue;
        }
        let changes = state.subscribe();
        tokio::spawn(pipe(client, target.clone(), changes, at.outages));
    }
}

async fn pipe(
    mut client: TcpStream,
    target: String,
    mut changes: watch::Receiver<State>,
    outages: u64,
) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = changes.wait_for(|state| state.outages != outages) => {
            reset(client);
            reset(server);
        }
    }
}

/// Closes `stream` with a reset rather than an orderly shutdown.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
