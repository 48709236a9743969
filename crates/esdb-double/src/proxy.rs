//! A TCP proxy whose connections a test can cut at will: how the resume checks break a real
//! server's connections, which the test cannot restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Forwards every connection on a loopback port to `upstream` until dropped.
pub struct CuttableProxy {
    addr: SocketAddr,
    connections: Arc<Mutex<JoinSet<()>>>,
    acceptor: JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let tracked = connections.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut set = tracked.lock().unwrap_or_else(PoisonError::into_inner);
                // Reap finished connections so the set does not grow.
                while set.try_join_next().is_some() {}
                set.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            connections,
            acceptor,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection at once; new ones are accepted as before.
    pub fn cut(&self) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}
