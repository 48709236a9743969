//! The whole stack, measured in one run: `scripts/bench` (or `cargo bench -p booking --bench
//! stack -- --quick` once wrk is installed and the open-files limit raised).
//!
//! It starts every role as its own `booking` process on the PostgreSQL adapter, against a
//! throwaway database, warehouse, Redis prefix and RabbitMQ names, then measures in order:
//! (a) the append ceiling and (b) the adapter (`ceiling`), (c) booking throughput and
//! (d) the flash sale (`bookings`, with wrk), beside them (c2) and (d2) holds and (m) the seat
//! map read (`holds`), (d3) and (c3) checkouts (`checkout`), (e) read your writes (`ryw`), (f) lobby push (`lobby`),
//! (g) rebuild and (h) warehouse load (`replay`), and prints one table with each figure's
//! ratio to (a) and its target, and the peak memory (`VmHWM`) of each role. The roles' logs
//! stay in a scratch directory named at the start.

mod bookings;
mod ceiling;
mod checkout;
mod cpu;
mod hold_load;
mod holds;
mod lobby;
mod replay;
mod report;
mod roles;
mod ryw;
mod seat_map;
mod stack;
mod wrk;

use clap::Parser;
use std::time::Duration;

/// How big a run is.
#[derive(Parser, Clone)]
#[command(about = "Benchmark the whole stack and print one table")]
pub struct Scale {
    /// Development mode: 3 s windows, a short sweep, 1,000 lobby members, 5 bookings.
    #[arg(long)]
    quick: bool,
    /// Seconds of each measured window (sweep levels, throughput, read-your-writes).
    #[arg(long)]
    secs: Option<u64>,
    /// Connections (concurrent clients) of the booking throughput run (c).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Bookings per second of the second read-your-writes run (e); by default half of (c)'s
    /// rate, where the machine is still saturated.
    #[arg(long)]
    ryw_rate: Option<f64>,
    /// Bookings per second of the read-your-writes run (e) held to p99 <= 25 ms.
    #[arg(long, default_value_t = 200.0)]
    ryw_steady_rate: f64,
    /// Lobby members connected at once for (f).
    #[arg(long)]
    members: Option<usize>,
    /// Bookings pushed to every lobby member for (f).
    #[arg(long)]
    rounds: Option<usize>,
    /// Closed-loop clients of the checkout runs (d3) and (c3).
    #[arg(long, default_value_t = 100)]
    checkout_clients: usize,
    /// Only the signed-in figures, holds (d2), (c2), (m) and checkouts (d3), (c3): no append
    /// sweep, no (c)-(h); for working on them without the whole run.
    #[arg(long)]
    holds_only: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Scale {
    fn window(&self) -> Duration {
        Duration::from_secs(self.secs.unwrap_or(if self.quick { 3 } else { 15 }))
    }

    /// Concurrency levels of the append sweep.
    fn levels(&self) -> Vec<usize> {
        if self.quick {
            vec![4, 16]
        } else {
            vec![1, 4, 8, 16, 32]
        }
    }

    fn members(&self) -> usize {
        self.members
            .unwrap_or(if self.quick { 1000 } else { 10_000 })
    }

    fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 5 } else { 30 })
    }
}

fn main() -> anyhow::Result<()> {
    let scale = Scale::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let (rows, goals, profile) = runtime.block_on(stack::run(&scale))?;
    println!(
        "\n{}\n{}\n{profile}",
        report::render(&rows),
        report::render_goals(&goals)
    );
    Ok(())
}
