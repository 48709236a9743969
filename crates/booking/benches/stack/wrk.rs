//! Booking commands through the gateway, driven by `wrk` (Debian's package) with
//! `bookings.lua`: (c) sustained throughput over many trains, and (d) the flash sale.
//!
//! wrk is closed-loop (each connection waits for its answer), which is what a throughput
//! ceiling wants: it finds the most the stack does with that many clients. It is C with a
//! LuaJIT request builder, so it takes little of the CPU the stack needs on a small machine.

use anyhow::{Context, bail, ensure};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/stack/bookings.lua");

/// What `bookings.lua` reports.
#[derive(Debug)]
pub struct WrkResult {
    pub duration: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub socket_errors: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

impl WrkResult {
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or_default()
    }

    /// Every answer that was not a 200, e.g. "; also 409=3 503=1", or nothing.
    pub fn others(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(status, n)| format!("{status}={n}"))
            .collect();
        if self.socket_errors > 0 {
            parts.push(format!("socket errors={}", self.socket_errors));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; also {}", parts.join(" "))
        }
    }
}

/// What one wrk run books.
pub struct Load<'a> {
    pub gateway: &'a str,
    pub first_train: i64,
    pub trains: i64,
    pub connections: usize,
    pub duration: Duration,
    /// Keeps travellers unique across runs on the same trains.
    pub tag: &'a str,
    /// Flash-sale mode: once a thread hears the train is sold out it slows right down, so
    /// the refusals that follow do not swamp the latencies of the sale.
    pub sale: bool,
}

/// Runs wrk to the end of its duration.
pub fn run(load: &Load) -> anyhow::Result<WrkResult> {
    finish(start(load)?)
}

/// Starts wrk; `finish` collects its result, `interrupt` ends it early.
pub fn start(load: &Load) -> anyhow::Result<Child> {
    Command::new("wrk")
        .args(["--threads", &load.connections.clamp(1, 2).to_string()])
        .args(["--connections", &load.connections.to_string()])
        .args([
            "--duration",
            &format!("{}s", load.duration.as_secs().max(1)),
        ])
        // Queued behind a busy train, an answer may take seconds; that is latency, not loss.
        .args(["--timeout", "30s", "--script", SCRIPT])
        .arg(format!("http://{}", load.gateway))
        .arg("--")
        .arg(load.first_train.to_string())
        .arg(load.trains.to_string())
        .arg(load.tag)
        .arg(if load.sale { "sale" } else { "steady" })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running wrk (Debian package wrk; scripts/bench installs it)")
}

/// Ends a run early the way Ctrl-C does: wrk stops its threads and still reports.
pub fn interrupt(wrk: &Child) -> anyhow::Result<()> {
    let sent = Command::new("kill")
        .args(["-INT", &wrk.id().to_string()])
        .status()?;
    ensure!(sent.success(), "could not interrupt wrk");
    Ok(())
}

pub fn finish(wrk: Child) -> anyhow::Result<WrkResult> {
    let output = wrk.wait_with_output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("wrk-result "))
        .with_context(|| format!("no result line in wrk's output: {text}"))?;
    parse(line)
}

fn parse(line: &str) -> anyhow::Result<WrkResult> {
    let mut fields = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=').context("a key=value pair")?;
        let value: u64 = value
            .parse()
            .with_context(|| format!("a number in {pair}"))?;
        match key.strip_prefix("status_") {
            Some(status) => {
                statuses.insert(status.parse()?, value);
            }
            None => {
                fields.insert(key, value);
            }
        }
    }
    let micros = |key: &str| -> anyhow::Result<Duration> {
        let us = fields.get(key).with_context(|| format!("no {key}"))?;
        Ok(Duration::from_micros(*us))
    };
    Ok(WrkResult {
        duration: micros("duration_us")?,
        p50: micros("p50_us")?,
        p99: micros("p99_us")?,
        socket_errors: fields.get("socket_errors").copied().unwrap_or_default(),
        statuses,
    })
}
