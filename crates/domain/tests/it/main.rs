//! The domain's one integration-test binary: given/when/then tests of each aggregate, and the
//! stored event fixtures that pin the shape of the log.
//!
//! Tests go through the public API only, the way the services use the crate: fold a history,
//! decide a command, compare the events or the refusal.

mod fixtures;
mod lobby;
mod order;
mod pricing;
mod seats;
mod train;
mod user;

use chrono::{DateTime, TimeZone, Utc};
use domain::{Decider, Route, SeatCount, TravelTime};
use std::fmt::Debug;

/// Starts a test from a history, folded with the decider's own `evolve`, so the tests exercise
/// replay as well as the decision.
pub fn given<D: Decider>(history: &[D::Event]) -> Given<D> {
    Given {
        state: D::fold(history),
    }
}

pub struct Given<D: Decider> {
    state: D::State,
}

impl<D: Decider> Given<D> {
    pub fn when(self, command: D::Command) -> Then<D> {
        Then {
            outcome: D::decide(&self.state, command),
        }
    }
}

pub struct Then<D: Decider> {
    outcome: Result<Vec<D::Event>, D::Error>,
}

impl<D> Then<D>
where
    D: Decider,
    D::Event: Debug + PartialEq,
    D::Error: PartialEq,
{
    /// The command was accepted and recorded exactly these events, in this order.
    #[track_caller]
    pub fn then(self, expected: &[D::Event]) {
        match self.outcome {
            Ok(events) => assert_eq!(events, expected),
            Err(error) => panic!("expected {expected:#?}, but the command was refused: {error:?}"),
        }
    }

    /// The command was refused for exactly this reason.
    #[track_caller]
    pub fn then_error(self, expected: D::Error) {
        match self.outcome {
            Ok(events) => panic!("expected refusal {expected:?}, but got {events:#?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }
}

/// A fixed instant on 2024-09-01, `minute` minutes past noon UTC. Tests never read the clock.
pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 1, 12, minute, 0)
        .single()
        .expect("a fixed, unambiguous UTC instant")
}

pub fn route(raw: &str) -> Route {
    Route::parse(raw).expect("a valid route")
}

pub fn time(raw: &str) -> TravelTime {
    TravelTime::parse(raw).expect("a valid travel time")
}

pub fn seats(count: i64) -> SeatCount {
    SeatCount::new(count).expect("a valid seat count")
}
