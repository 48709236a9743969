//! What the tests share: loopback ports, the simulator's settings, a running simulator
//! (stopped when dropped), and logs on request.

use payments::simulator::{self, Settings};
use payments::webhook::WebhookSecret;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Logs to the test output when `TEST_LOG` is set.
pub fn log_if_asked() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,hyper_util=info,reqwest=info")
            .with_test_writer()
            .try_init();
    }
}

pub fn secret() -> WebhookSecret {
    WebhookSecret::from("whsec_test_only".to_owned())
}

/// A listener on a free loopback port, and its base URL.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    (listener, url)
}

/// The simulator's settings with the tests' [`secret`].
pub fn settings(webhook_url: &str) -> Settings {
    Settings {
        webhook_url: webhook_url.to_owned(),
        secret: secret(),
    }
}

/// A running simulator delivering to `webhook_url`.
pub struct Simulator {
    pub url: String,
    _stop: DropGuard,
}

impl Simulator {
    pub async fn start(webhook_url: &str) -> Self {
        log_if_asked();
        let (listener, url) = bind().await;
        let stop = CancellationToken::new();
        tokio::spawn(simulator::serve(
            listener,
            settings(webhook_url),
            stop.clone(),
        ));
        Self {
            url,
            _stop: stop.drop_guard(),
        }
    }

    pub fn client(&self) -> simulator::Client {
        simulator::Client::new(&self.url)
    }
}
