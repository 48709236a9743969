//! Serving a router over TCP with the bounds `axum::serve` does not set: a deadline for a
//! request's headers, so that a client sending them a byte at a time (slowloris) cannot hold a
//! connection, and a cap on open connections, past which new ones wait in the listen backlog.
//! Otherwise it serves as `axum::serve` does: HTTP/1 and HTTP/2 with upgrades (websockets),
//! the peer's address as `ConnectInfo`, and a graceful shutdown that lets open requests finish.
//! `/metrics` may be served beside it on an address of its own (see `routes::service`).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The bounds of one server.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Longest a client may take to send a request's headers; then the connection is closed.
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener`, and `/metrics` alone on `metrics` if given, until `shutdown`
/// completes; then waits for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    metrics: Option<SocketAddr>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, mut stopped) = watch::channel(false);
    let public = async {
        let served = accept(listener, router, limits, shutdown).await;
        let _ = stop.send(true);
        served
    };
    let metrics = async {
        match metrics {
            Some(address) => {
                let stopped = async move {
                    let _ = stopped.wait_for(|stopped| *stopped).await;
                };
                crate::routes::serve_metrics(address, stopped).await
            }
            None => Ok(()),
        }
    };
    tokio::try_join!(public, metrics).map(|_| ())
}

/// The accept loop of [`serve`].
async fn accept(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, close) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = WithPeer {
            router: router.clone(),
            peer,
        };
        let mut close = close.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            // The CONNECT protocol carries websockets over HTTP/2.
            builder.http2().enable_connect_protocol();
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::trace!(%error, "connection ended");
                    }
                }
                _ = close.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(close);
    let _ = closing.send(());
    closing.closed().await;
    Ok(())
}

/// The router, with the connection's peer in every request's extensions.
#[derive(Clone)]
struct WithPeer {
    router: Router,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for WithPeer {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        tower::Service::call(&mut self.router.clone(), request)
    }
}
