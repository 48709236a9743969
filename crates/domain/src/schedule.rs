//! Validated value types for a train's details. Constructing one is the only way to get one,
//! so a command can never carry an invalid route or seat count.

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a raw value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("route must be between {min} and {max} characters")]
    RouteLength { min: usize, max: usize },
    #[error("seats must be between 0 and {max}")]
    SeatsOutOfRange { max: u32 },
    #[error("time must look like 2024-09-25T06:30")]
    BadTime,
    #[error("time must be between 2000-01-01T00:00 and 2099-12-31T23:59")]
    TimeOutOfRange,
}

/// A route name such as `Chisinau-Bucuresti`: 1 to 100 characters, surrounding blanks trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Route(String);

impl Route {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ValueError::RouteLength {
                min: 1,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of seats, 0 to 5000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeatCount(u32);

impl SeatCount {
    pub const MAX: u32 = 5000;

    pub fn new(seats: i64) -> Result<Self, ValueError> {
        match u32::try_from(seats) {
            Ok(n) if n <= Self::MAX => Ok(Self(n)),
            _ => Err(ValueError::SeatsOutOfRange { max: Self::MAX }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A local departure or arrival time with minute precision, written `2024-09-25T06:30`
/// (seconds are kept and written only when given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TravelTime(NaiveDateTime);

impl TravelTime {
    const FORMATS: [&'static str; 2] = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"];

    /// The years a new travel time may fall in. Every column that stores one holds them: the
    /// read models' timestamps, the warehouse's `dim_date` (2000 to 2099) and its lead time
    /// in minutes as an `integer`.
    pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

    /// A new travel time, from a request: well formed and within [`Self::YEARS`].
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let time = Self::read(raw)?;
        if time.in_range() {
            Ok(time)
        } else {
            Err(ValueError::TimeOutOfRange)
        }
    }

    /// Whether the time falls within [`Self::YEARS`].
    pub fn in_range(self) -> bool {
        use chrono::Datelike;
        Self::YEARS.contains(&self.0.year())
    }

    /// Any well-formed time. Stored events are read with it: they are facts, and what the
    /// range refuses today was accepted when they were written.
    fn read(raw: &str) -> Result<Self, ValueError> {
        Self::FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(raw.trim(), format).ok())
            .map(Self)
            .ok_or(ValueError::BadTime)
    }

    pub fn naive(self) -> NaiveDateTime {
        self.0
    }
}

impl From<NaiveDateTime> for TravelTime {
    fn from(time: NaiveDateTime) -> Self {
        Self(time)
    }
}

impl fmt::Display for TravelTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::Timelike;
        let format = if self.0.second() == 0 && self.0.nanosecond() == 0 {
            Self::FORMATS[0]
        } else {
            Self::FORMATS[1]
        };
        self.0.format(format).fmt(f)
    }
}

impl Serialize for TravelTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TravelTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::read(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_time_must_fall_in_the_years_2000_to_2099() {
        assert!(TravelTime::parse("2000-01-01T00:00").is_ok());
        assert!(TravelTime::parse("2099-12-31T23:59:59").is_ok());
        for outside in ["1999-12-31T23:59", "2100-01-01T00:00", "-5000-01-01T00:00"] {
            assert_eq!(
                TravelTime::parse(outside),
                Err(ValueError::TimeOutOfRange),
                "{outside}"
            );
        }
    }

    #[test]
    fn a_stored_time_outside_the_years_still_reads_back() {
        let stored: TravelTime =
            serde_json::from_str(r#""-5000-01-01T00:00""#).expect("a recorded fact reads back");
        assert!(!stored.in_range());
        assert_eq!(stored.to_string(), "-5000-01-01T00:00");
    }

    #[test]
    fn a_route_is_trimmed_and_bounded() {
        assert_eq!(
            Route::parse("  A-B ").map(|r| r.to_string()),
            Ok("A-B".into())
        );
        assert!(Route::parse("   ").is_err());
        assert!(Route::parse(&"x".repeat(100)).is_ok());
        assert!(Route::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn seats_range_from_zero_to_five_thousand() {
        assert!(SeatCount::new(0).is_ok());
        assert!(SeatCount::new(5000).is_ok());
        assert!(SeatCount::new(5001).is_err());
        assert!(SeatCount::new(-1).is_err());
    }

    #[test]
    fn travel_time_round_trips_in_the_contract_format() {
        let time = TravelTime::parse("2024-09-25T06:30");
        assert_eq!(time.map(|t| t.to_string()), Ok("2024-09-25T06:30".into()));
        let with_seconds = TravelTime::parse("2024-09-25T06:30:15");
        assert_eq!(
            with_seconds.map(|t| t.to_string()),
            Ok("2024-09-25T06:30:15".into())
        );
        assert!(TravelTime::parse("25/09/2024").is_err());
    }
}
