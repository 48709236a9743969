//! `booking healthcheck <URL>`: the probe a container's healthcheck runs. The runtime image
//! holds this binary and nothing else (no shell, no curl), so the binary asks a role's health
//! endpoint itself; any HTTP client in the image would be one more thing to patch.

use anyhow::Context;
use std::time::Duration;

/// Succeeds when `url` answers 2xx within `timeout`; otherwise says what went wrong, which
/// the caller turns into a non-zero exit status (Docker reads that as unhealthy).
pub(crate) async fn probe(url: &str, timeout: Duration) -> anyhow::Result<()> {
    // The endpoint is the container's own loopback: a proxy from the environment never helps.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("requesting {url}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}
