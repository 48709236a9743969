//! The stack under test: each role is its own `booking` process, so each one's peak memory
//! (`VmHWM`) can be read from `/proc` on its own.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test, built by `cargo bench` for this very run.
const BOOKING: &str = env!("CARGO_BIN_EXE_booking");

/// Environment every role shares: databases, Redis and RabbitMQ names of this run only.
#[derive(Clone)]
pub struct Env {
    pub vars: Vec<(String, String)>,
    /// Where each role's log goes.
    pub logs: PathBuf,
}

impl Env {
    /// A `booking` command with this run's environment and its log file.
    pub fn command(&self, args: &[&str], log: &str) -> anyhow::Result<Command> {
        let file = std::fs::File::create(self.logs.join(format!("{log}.log")))
            .with_context(|| format!("creating the log of {log}"))?;
        let mut command = Command::new(BOOKING);
        command
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            // A .env file in the caller's directory must not leak into the run.
            .current_dir(&self.logs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file);
        Ok(command)
    }

    /// Runs a one-shot operation (`migrate`, `rebuild`) to its end, sampling its peak
    /// memory while it runs; returns its standard output and that peak.
    pub fn run_to_end(&self, args: &[&str], log: &str) -> anyhow::Result<(String, u64)> {
        let mut child = self
            .command(args, log)?
            .spawn()
            .context("starting booking")?;
        let mut stdout = child.stdout.take().context("no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut out).map(|_| out)
        });
        let mut peak = 0;
        // The high-water mark only grows, so the last sample before exit is the best one.
        let status = loop {
            if let Ok(kib) = status_kib(child.id(), "VmHWM") {
                peak = kib;
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = reader
            .join()
            .map_err(|_| anyhow::anyhow!("stdout reader panicked"))??;
        if !status.success() {
            bail!("booking {args:?} failed ({status}); see {log}.log");
        }
        Ok((out, peak))
    }
}

/// One running role.
pub struct Role {
    pub name: &'static str,
    child: Child,
}

impl Role {
    pub fn start(env: &Env, name: &'static str, extra: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::start_as(env, name, name, extra)
    }

    /// Another instance of the role `role`, under a name (and log) of its own.
    pub fn start_as(
        env: &Env,
        role: &str,
        name: &'static str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut command = env.command(&[role], name)?;
        command.envs(extra.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { name, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory so far, in KiB.
    pub fn peak_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.pid(), "VmHWM")
    }

    /// Resident memory now, in KiB.
    pub fn resident_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.pid(), "VmRSS")
    }

    /// Asks the role to stop (SIGTERM, a graceful shutdown) and waits a while for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        // A panic or an early return must not leave the stack running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `url` answers 200, or fails after `limit`.
pub async fn wait_ready(http: &reqwest::Client, url: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not become ready within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free loopback port for a role to listen on.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One `kB` field of `/proc/<pid>/status` (Linux).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} for process {pid}"))
}

/// The soft limit on open files of this process, which the roles inherit.
pub fn open_files_limit() -> anyhow::Result<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .context("no open-files limit in /proc/self/limits")
}
