//! The one table the benchmark prints, and the percentiles its rows carry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Latency percentiles of a set of samples.
#[derive(Clone, Copy, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least p of them at or below it.
        let at = |p: f64| {
            let rank = ((samples.len() as f64 * p).ceil() as usize).max(1);
            samples.get(rank - 1).copied().unwrap_or_default()
        };
        Self {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// One figure of the table.
pub struct Row {
    pub figure: String,
    pub value: String,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// The figure's rate over the ceiling's (a), both from this run.
    pub vs_ceiling: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

impl Row {
    pub fn new(figure: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            value: value.into(),
            p50: None,
            p99: None,
            vs_ceiling: None,
            target: String::new(),
            met: None,
        }
    }

    pub fn latency(mut self, p50: Duration, p99: Duration) -> Self {
        (self.p50, self.p99) = (Some(p50), Some(p99));
        self
    }

    pub fn rate(mut self, rate: f64, ceiling: f64) -> Self {
        self.vs_ceiling = (ceiling > 0.0).then(|| rate / ceiling);
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        (self.target, self.met) = (target.into(), Some(met));
        self
    }
}

/// The unexpected answers of a run for a row's value: `"; also POST 503=2 DELETE error=1"`,
/// or nothing when there were none.
pub fn also(others: &BTreeMap<String, usize>) -> String {
    if others.is_empty() {
        return String::new();
    }
    let others: Vec<String> = others
        .iter()
        .map(|(what, n)| format!("{what}={n}"))
        .collect();
    format!("; also {}", others.join(" "))
}

/// Counts an unexpected answer of a closed-loop client, then pauses: an open breaker or a
/// refused connection answers at once, and hundreds of clients retrying at once would only
/// measure their own spin.
pub async fn count_unexpected(others: &mut BTreeMap<String, usize>, what: impl Into<String>) {
    *others.entry(what.into()).or_default() += 1;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

pub fn render(rows: &[Row]) -> String {
    let ms = |d: Option<Duration>| {
        d.map_or(String::new(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    let header = ["figure", "value", "p50", "p99", "vs (a)", "target", "met"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            [
                row.figure.clone(),
                row.value.clone(),
                ms(row.p50),
                ms(row.p99),
                row.vs_ceiling
                    .map_or(String::new(), |r| format!("{:.0}%", r * 100.0)),
                row.target.clone(),
                match row.met {
                    Some(true) => "met".into(),
                    Some(false) => "NOT MET".into(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "| {} |", padded.join(" | "));
    };
    line(&header.map(String::from));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(row);
    }
    out
}

/// A rate, readably: "12,345/s".
pub fn per_second(rate: f64) -> String {
    let whole = rate.round() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}/s")
}

/// One goal of the cost-per-booking work, judged on this run.
pub struct Goal {
    pub goal: String,
    pub measured: String,
    /// `None` for a goal relative to an earlier run, which this one cannot judge alone.
    pub met: Option<bool>,
}

impl Goal {
    pub fn new(goal: impl Into<String>, measured: impl Into<String>, met: bool) -> Self {
        Self {
            goal: goal.into(),
            measured: measured.into(),
            met: Some(met),
        }
    }

    /// A goal judged against an earlier run: the line shows the figure to compare.
    pub fn compare(goal: impl Into<String>, measured: impl Into<String>) -> Self {
        Self {
            met: None,
            ..Self::new(goal, measured, false)
        }
    }
}

/// One line per goal: what it asks, what this run measured, met, NOT MET or compare.
pub fn render_goals(goals: &[Goal]) -> String {
    let mut out = String::from("goals:\n");
    for goal in goals {
        let verdict = match goal.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "compare",
        };
        let _ = writeln!(out, "  {verdict:<8} {}: {}", goal.goal, goal.measured);
    }
    out
}
