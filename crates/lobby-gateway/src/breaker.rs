//! A circuit breaker per upstream instance: after enough consecutive failures it opens and
//! refuses at once (so a dead command API costs callers nothing), then after a cooldown lets
//! one probe through; the probe's outcome closes or reopens it.
//!
//! A small state machine rather than a crate: the crates that fit (e.g. `failsafe`) pull in
//! their own policies and futures wrappers for what is a dozen lines here, with `now` passed
//! in so the tests need no clock.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight since `since`; a probe that never reports back (its caller
    /// went away) is replaced after another cooldown.
    HalfOpen {
        since: Instant,
    },
}

pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a request may go through now. Past the cooldown, the first caller becomes the
    /// probe and the others keep being refused until it reports.
    pub fn allow(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Closed { .. } => true,
            State::Open { until } | State::HalfOpen { since: until } if now >= until => {
                *state = State::HalfOpen {
                    since: now + self.cooldown,
                };
                true
            }
            State::Open { .. } | State::HalfOpen { .. } => false,
        }
    }

    pub fn succeeded(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = State::Closed { failures: 0 };
    }

    pub fn failed(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
    }

    /// True while requests are refused.
    #[cfg(test)]
    pub fn is_open(&self, now: Instant) -> bool {
        match *self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Closed { .. } => false,
            State::Open { until } | State::HalfOpen { since: until } => now < until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(5);

    fn opened(now: Instant) -> Breaker {
        let breaker = Breaker::new(3, COOLDOWN);
        for _ in 0..3 {
            breaker.failed(now);
        }
        breaker
    }

    #[test]
    fn failures_below_the_threshold_keep_it_closed() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        breaker.failed(now);
        breaker.failed(now);
        assert!(breaker.allow(now));
        breaker.succeeded();
        breaker.failed(now);
        breaker.failed(now);
        assert!(breaker.allow(now), "a success resets the count");
    }

    #[test]
    fn the_threshold_opens_it_until_the_cooldown_ends() {
        let now = Instant::now();
        let breaker = opened(now);
        assert!(!breaker.allow(now));
        assert!(breaker.is_open(now));
        assert!(!breaker.allow(now + COOLDOWN - Duration::from_millis(1)));
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through_and_its_success_closes_it() {
        let now = Instant::now();
        let breaker = opened(now);
        let later = now + COOLDOWN;
        assert!(breaker.allow(later), "the probe");
        assert!(!breaker.allow(later), "others wait for the probe");
        breaker.succeeded();
        assert!(breaker.allow(later));
        assert!(!breaker.is_open(later));
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let now = Instant::now();
        let breaker = opened(now);
        let later = now + COOLDOWN;
        assert!(breaker.allow(later));
        breaker.failed(later);
        assert!(!breaker.allow(later + Duration::from_millis(1)));
        assert!(breaker.allow(later + COOLDOWN));
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_another_cooldown() {
        let now = Instant::now();
        let breaker = opened(now);
        assert!(breaker.allow(now + COOLDOWN));
        assert!(!breaker.allow(now + COOLDOWN + Duration::from_secs(1)));
        assert!(breaker.allow(now + COOLDOWN * 2));
    }
}
