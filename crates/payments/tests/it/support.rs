//! What the tests share: loopback ports, the simulator's settings, and logs on request.

use payments::simulator::Settings;
use payments::webhook::WebhookSecret;

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
