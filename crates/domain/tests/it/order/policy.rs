//! The refund policy on its own: how much of a ticket comes back by how long before departure
//! it is given up. By default everything more than 7 days before, half from 24 hours up to and
//! including 7 days, nothing under 24 hours, and no cancelling once the train has left.

use super::departure;
use chrono::{NaiveDateTime, TimeDelta};
use domain::{Departed, RefundPolicy};

/// `left` before the trains' departure.
fn left(left: TimeDelta) -> NaiveDateTime {
    departure().naive() - left
}

fn refund(policy: RefundPolicy, amount: i64, before: TimeDelta) -> Result<i64, Departed> {
    policy.refund(amount, departure().naive(), left(before), false)
}

fn by_default(amount: i64, before: TimeDelta) -> Result<i64, Departed> {
    refund(RefundPolicy::default(), amount, before)
}

const DAY: TimeDelta = TimeDelta::days(1);
const WEEK: TimeDelta = TimeDelta::days(7);
const SECOND: TimeDelta = TimeDelta::seconds(1);

#[test]
fn more_than_seven_days_before_departure_everything_comes_back() {
    assert_eq!(by_default(2000, WEEK + SECOND), Ok(2000));
    assert_eq!(by_default(2000, TimeDelta::days(60)), Ok(2000));
}

#[test]
fn exactly_seven_days_before_departure_half_comes_back() {
    assert_eq!(by_default(2000, WEEK), Ok(1000));
}

#[test]
fn exactly_a_day_before_departure_half_still_comes_back() {
    assert_eq!(by_default(2000, DAY), Ok(1000));
}

#[test]
fn less_than_a_day_before_departure_nothing_comes_back() {
    assert_eq!(by_default(2000, DAY - SECOND), Ok(0));
    assert_eq!(by_default(2000, SECOND), Ok(0));
}

#[test]
fn at_or_after_departure_nothing_can_be_cancelled() {
    assert_eq!(by_default(2000, TimeDelta::zero()), Err(Departed));
    assert_eq!(by_default(2000, -SECOND), Err(Departed));
}

#[test]
fn half_of_an_odd_amount_is_rounded_half_up() {
    assert_eq!(by_default(1001, WEEK), Ok(501));
    assert_eq!(by_default(999, WEEK), Ok(500));
    assert_eq!(by_default(1, DAY), Ok(1));
}

#[test]
fn a_rescheduled_ticket_comes_back_in_full_until_its_train_leaves() {
    let rescheduled =
        |before| RefundPolicy::default().refund(2000, departure().naive(), left(before), true);
    assert_eq!(rescheduled(SECOND), Ok(2000));
    assert_eq!(rescheduled(WEEK), Ok(2000));
    assert_eq!(rescheduled(TimeDelta::zero()), Err(Departed));
}

#[test]
fn a_custom_policy_moves_every_boundary_and_the_share() {
    let policy = RefundPolicy {
        full_more_than: TimeDelta::hours(48),
        partial_at_least: TimeDelta::hours(2),
        partial_percent: 25,
    };
    assert_eq!(
        refund(policy, 1002, TimeDelta::hours(48) + SECOND),
        Ok(1002)
    );
    assert_eq!(refund(policy, 1002, TimeDelta::hours(48)), Ok(251));
    assert_eq!(refund(policy, 1002, TimeDelta::hours(2)), Ok(251));
    assert_eq!(refund(policy, 1002, TimeDelta::hours(2) - SECOND), Ok(0));
    assert_eq!(refund(policy, 1002, TimeDelta::zero()), Err(Departed));
}
