//! Where the time goes: CPU time (user + system, from `/proc`) spent during a figure by each
//! role, by the PostgreSQL backends serving the run's database, by the load generator, and by
//! the whole machine, so a missed target can be traced to the process that was busy and a
//! noisy neighbour shows as CPU nobody here spent.

use crate::roles::Role;
use anyhow::Context;
use std::time::{Duration, Instant};

pub struct Snapshot {
    at: Instant,
    /// CPU time by process group, in the same order every time.
    spent: Vec<(String, Duration)>,
    machine_busy: Duration,
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
fn ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn from_ticks(ticks_spent: u64) -> Duration {
    Duration::from_secs_f64(ticks_spent as f64 / ticks())
}

/// User + system time of a process; with `children`, also of its waited-for children
/// (this process's wrk runs).
fn process_time(pid: &str, children: bool) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .context("a /proc stat line")?
        .1
        .split_whitespace()
        .collect();
    let field = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
    let mut spent = field(11) + field(12);
    if children {
        spent += field(13) + field(14);
    }
    Ok(from_ticks(spent))
}

/// CPU time the whole machine has been busy since boot.
pub fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let times: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let total: u64 = times.iter().sum();
    let idle = times.get(3).copied().unwrap_or(0) + times.get(4).copied().unwrap_or(0);
    Ok(from_ticks(total - idle))
}

pub async fn snapshot(roles: &[&Role], log: &sqlx::PgPool) -> anyhow::Result<Snapshot> {
    let mut spent = Vec::new();
    for role in roles {
        spent.push((
            role.name.to_owned(),
            process_time(&role.pid().to_string(), false)?,
        ));
    }
    let backends: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(log)
            .await?;
    let mut postgres = Duration::ZERO;
    for pid in backends {
        // A backend may end between the query and the read.
        postgres += process_time(&pid.to_string(), false).unwrap_or_default();
    }
    spent.push(("postgres (this run's backends)".into(), postgres));
    // Shared services: their time includes anyone else's use of them.
    for (name, program) in [
        ("redis (shared)", "redis-server"),
        ("rabbitmq (shared)", "beam.smp"),
    ] {
        let pids = std::process::Command::new("pidof").arg(program).output()?;
        let mut used = Duration::ZERO;
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            used += process_time(pid, false).unwrap_or_default();
        }
        spent.push((name.into(), used));
    }
    spent.push((LOAD_GENERATOR.into(), process_time("self", true)?));
    Ok(Snapshot {
        at: Instant::now(),
        spent,
        machine_busy: machine_busy()?,
    })
}

/// The load generator's group, left out of the stack's cost.
const LOAD_GENERATOR: &str = "load generator (this process, wrk)";

/// CPU the stack's processes (every group but the load generator) spent per unit of work
/// between two snapshots.
pub fn stack_per_unit(before: &Snapshot, after: &Snapshot, units: f64) -> Duration {
    let spent: Duration = before
        .spent
        .iter()
        .zip(&after.spent)
        .filter(|((name, _), _)| name != LOAD_GENERATOR)
        .map(|((_, was), (_, is))| is.saturating_sub(*was))
        .sum();
    spent.div_f64(units.max(1.0))
}

/// CPU per unit of work and share of one core for each group between two snapshots.
pub fn breakdown(before: &Snapshot, after: &Snapshot, units: f64, unit: &str) -> String {
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let mut out = String::new();
    let mut ours = Duration::ZERO;
    for ((name, was), (_, is)) in before.spent.iter().zip(&after.spent) {
        let used = is.saturating_sub(*was);
        ours += used;
        out.push_str(&format!(
            "  {name:<36} {:>7.3} ms CPU per {unit}  {:>5.0}% of a core\n",
            used.as_secs_f64() * 1e3 / units.max(1.0),
            used.as_secs_f64() / wall * 100.0,
        ));
    }
    let busy = after.machine_busy.saturating_sub(before.machine_busy);
    out.push_str(&format!(
        "  {:<36} {:>5.0}% of a core busy on the machine, {:.0}% of it outside this run's processes\n",
        "machine",
        busy.as_secs_f64() / wall * 100.0,
        busy.saturating_sub(ours).as_secs_f64() / busy.as_secs_f64().max(1e-9) * 100.0,
    ));
    out
}
