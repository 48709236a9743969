//! Backfill: build the warehouse straight from the event log, without RabbitMQ.
//!
//! Each page of the log becomes the same [`FeedMessage`]s the feed publishes and goes through
//! the same loader, so the result equals a warehouse fed live, and running it over a
//! warehouse that is already (partly) loaded changes nothing that is already there. The next
//! page is read while the current one loads.

use crate::{EtlError, load};
use event_store::{EventStore, Position};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use projector::feed::FeedMessage;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What a backfill did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackfillReport {
    /// Events read from the log.
    pub events: u64,
    /// Of those, events the warehouse did not hold yet.
    pub loaded: u64,
    pub elapsed: Duration,
    /// The last position read; `None` for an empty log.
    pub last: Option<Position>,
}

impl BackfillReport {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Reads the whole log in pages of `page` events and loads it. With `progress`, shows a live
/// counter on a terminal, or a line every five seconds when stderr is not one.
pub async fn backfill<S: EventStore>(
    store: &S,
    pool: &PgPool,
    page: usize,
    progress: bool,
) -> Result<BackfillReport, EtlError> {
    let started = Instant::now();
    let bar = Progress::new(progress);
    let (pages, mut incoming) = mpsc::channel(2);
    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let mut after = None;
        loop {
            let events = match reader_store
                .read_all(after, &FeedMessage::filter(), page.max(1))
                .await
            {
                Ok(events) => events,
                Err(e) => {
                    let _ = pages.send(Err(EtlError::from(e))).await;
                    return;
                }
            };
            let Some(last) = events.last().map(|e| e.position) else {
                return;
            };
            after = Some(last);
            let messages: Result<Vec<FeedMessage>, _> =
                events.iter().map(FeedMessage::from_recorded).collect();
            let done = pages
                .send(messages.map(|m| (m, last)).map_err(EtlError::from))
                .await
                .is_err();
            if done {
                return;
            }
        }
    });

    let mut report = BackfillReport {
        events: 0,
        loaded: 0,
        elapsed: Duration::ZERO,
        last: None,
    };
    while let Some(page) = incoming.recv().await {
        let (messages, last) = page?;
        let loaded = load(pool, &messages).await?;
        report.events += messages.len() as u64;
        report.loaded += loaded.fresh as u64;
        report.last = Some(last);
        bar.update(report.events, started.elapsed(), last);
    }
    reader.await.ok();
    report.elapsed = started.elapsed();
    bar.finish(&report);
    Ok(report)
}

/// A spinner with a rate on a terminal; periodic plain lines elsewhere; nothing when off.
struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        if !enabled {
            return Self {
                bar: None,
                plain: false,
                last_line: std::sync::Mutex::new(Instant::now()),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let plain = bar.is_hidden();
        let style = ProgressStyle::with_template(
            "{spinner} backfill {human_pos} events  {per_sec}  {elapsed_precise}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            bar: Some(bar),
            plain,
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn update(&self, events: u64, elapsed: Duration, at: Position) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(events);
        bar.set_message(format!("at {at}"));
        if self.plain {
            let mut last = self
                .last_line
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() >= Duration::from_secs(5) {
                *last = Instant::now();
                eprintln!(
                    "backfill: {events} events, {:.0} events/s, at {at}",
                    events as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
                );
            }
        }
    }

    fn finish(&self, report: &BackfillReport) {
        let Some(bar) = &self.bar else { return };
        bar.finish_and_clear();
        eprintln!(
            "backfill: {} events read, {} new, in {:.1} s ({:.0} events/s){}",
            report.events,
            report.loaded,
            report.elapsed.as_secs_f64(),
            report.events_per_second(),
            report
                .last
                .map(|at| format!(", up to {at}"))
                .unwrap_or_default()
        );
    }
}
