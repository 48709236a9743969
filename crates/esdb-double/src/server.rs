//! Serving the double on a loopback port, and stopping it hard: every connection is dropped
//! at once, as when a node crashes, while the log survives for the next start.

use crate::features::Features;
use crate::proto::server_features::server_features_server::ServerFeaturesServer;
use crate::proto::streams::streams_server::StreamsServer;
use crate::streams::{Shared, StreamsService};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// A running (or stopped) double. Dropping it stops it.
pub struct EsdbDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

struct Running {
    stop: CancellationToken,
    server: JoinHandle<()>,
}

impl EsdbDouble {
    /// Starts an empty double on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let double = Self {
            addr: listener.local_addr()?,
            shared: Arc::new(Shared::new()),
            running: Mutex::new(None),
        };
        double.serve(listener);
        Ok(double)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection string for the kurrentdb client (plain text: the double has no TLS).
    pub fn url(&self) -> String {
        format!("esdb://{}?tls=false", self.addr)
    }

    /// Stops hard: the port closes and every open connection drops mid-flight.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.stop.cancel();
            let _ = running.server.await;
        }
    }

    /// Stops (if running) and starts again on the same port with the same log.
    pub async fn restart(&self) -> std::io::Result<()> {
        self.stop().await;
        let mut attempt = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                // The old socket may take a moment to be released.
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "rebinding the double's port");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.serve(listener);
        Ok(())
    }

    /// Makes the next `$all` subscription, once it has sent some events, send a reply the
    /// kurrentdb client does not expect there and panics on. For tests of the supervision
    /// of the adapter's subscription task; a real server has no such switch.
    pub fn break_next_subscription(&self) {
        self.shared.break_next_subscription();
    }

    /// How many `$all` subscriptions clients have opened, resubscriptions included.
    pub fn subscriptions_opened(&self) -> usize {
        self.shared.subscriptions()
    }

    /// How many `$all` subscriptions are open on the server right now.
    pub fn open_subscriptions(&self) -> usize {
        self.shared.open_subscriptions()
    }

    fn serve(&self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let streams = StreamsService {
            shared: self.shared.clone(),
        };
        let routes = Routes::new(StreamsServer::new(streams))
            .add_service(ServerFeaturesServer::new(Features))
            .prepare();
        let server = tokio::spawn(accept(listener, routes, stop.clone()));
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Running { stop, server });
    }
}

impl Drop for EsdbDouble {
    fn drop(&mut self) {
        let running = self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.stop.cancel();
            running.server.abort();
        }
    }
}

/// Accepts connections until stopped, then drops the listener and aborts every connection.
async fn accept(listener: TcpListener, routes: Routes, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    let service = TowerToHyperService::new(routes.clone());
                    connections.spawn(async move {
                        let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(socket), service)
                            .await;
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "double: connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "double: accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}
