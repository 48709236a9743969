//! A TCP proxy in front of the broker that a test can cut (every open connection dies and
//! new ones are refused, as when the network goes) and restore.

use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: std::net::SocketAddr,
    /// (accepting, generation): cutting bumps the generation, which ends every pipe.
    state: Arc<watch::Sender<(bool, u64)>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(watch::channel((true, 0u64)).0);
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (accepting, generation) = *accept_state.borrow();
                if !accepting {
                    drop(client);
                    continue;
                }
                let mut changes = accept_state.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut upstream) = (client, upstream);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = changes.wait_for(|(_, g)| *g != generation) => {}
                    }
                });
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    /// Kills every connection through the proxy and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.state.send_modify(|(accepting, generation)| {
            *accepting = false;
            *generation += 1;
        });
    }

    pub fn restore(&self) {
        self.state.send_modify(|(accepting, _)| *accepting = true);
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str, target: &str) -> String {
        url.replacen(target, &self.addr.to_string(), 1)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
