//! Global log positions.

use std::fmt;
use std::str::FromStr;

/// A place in the global log, totally ordered. Adapters fill it as they need: EventStoreDB
/// with its (commit, prepare) pair, PostgreSQL with (transaction id, sequence). Callers treat
/// it as opaque: compare it, store it, hand it back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub commit: u64,
    pub prepare: u64,
}

impl Position {
    pub const fn new(commit: u64, prepare: u64) -> Self {
        Self { commit, prepare }
    }
}

/// `commit.prepare`, the form used in HTTP headers and logs.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.commit, self.prepare)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a position looks like 1234.56")]
pub struct ParsePositionError;

impl FromStr for Position {
    type Err = ParsePositionError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (commit, prepare) = raw.trim().split_once('.').ok_or(ParsePositionError)?;
        Ok(Self {
            commit: commit.parse().map_err(|_| ParsePositionError)?,
            prepare: prepare.parse().map_err(|_| ParsePositionError)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_commit_then_prepare_and_round_trip_as_text() {
        assert!(Position::new(1, 9) < Position::new(2, 0));
        assert!(Position::new(2, 1) < Position::new(2, 2));
        let parsed: Result<Position, _> = "12.34".parse();
        assert_eq!(parsed.ok(), Some(Position::new(12, 34)));
        assert!("12".parse::<Position>().is_err());
    }
}
