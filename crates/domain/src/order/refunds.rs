//! The refund policy: how much of a ticket's price comes back when its traveller cancels, by
//! how long before departure they do. Pure, so every boundary is a plain test.
//!
//! By default: everything more than 7 days before departure, half from 24 hours up to and
//! including 7 days, nothing under 24 hours; a train that has left cannot be cancelled. A
//! ticket whose train was rescheduled comes back in full until its new departure, and one
//! whose train was removed always does.

use chrono::{NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

/// The tiers of the refund policy. Configurable (`REFUND_FULL_BEFORE_HOURS`,
/// `REFUND_PARTIAL_BEFORE_HOURS`, `REFUND_PARTIAL_PERCENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPolicy {
    /// Cancelled more than this before departure: a full refund.
    pub full_more_than: TimeDelta,
    /// Cancelled at least this before departure (and not more than `full_more_than`): a
    /// refund of `partial_percent`.
    pub partial_at_least: TimeDelta,
    pub partial_percent: u8,
}

impl Default for RefundPolicy {
    fn default() -> Self {
        Self {
            full_more_than: TimeDelta::days(7),
            partial_at_least: TimeDelta::hours(24),
            partial_percent: 50,
        }
    }
}

/// The train of the ticket has left: nothing can be cancelled any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Train has departed")]
pub struct Departed;

impl RefundPolicy {
    /// What cancelling a ticket of `amount` (minor units) at `at` gives back, for a train that
    /// leaves at `departure` (both as the schedule reads them); `full` for a rescheduled train.
    /// Partial amounts are rounded half up to a minor unit.
    pub fn refund(
        &self,
        amount: i64,
        departure: NaiveDateTime,
        at: NaiveDateTime,
        full: bool,
    ) -> Result<i64, Departed> {
        if at >= departure {
            return Err(Departed);
        }
        let left = departure - at;
        if full || left > self.full_more_than {
            Ok(amount)
        } else if left >= self.partial_at_least {
            Ok(percent_of(amount, self.partial_percent))
        } else {
            Ok(0)
        }
    }
}

/// `percent`% of `amount`, rounded half up.
fn percent_of(amount: i64, percent: u8) -> i64 {
    (i128::from(amount) * i128::from(percent) + 50)
        .div_euclid(100)
        .try_into()
        .unwrap_or(i64::MAX)
}
