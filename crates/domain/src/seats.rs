//! A train's seats: coaches of a class, seats numbered `<coach>-<n>` (`"2-14"`), and how a
//! request for a number of seats of a class is turned into particular seats, adjacent where
//! that is possible.
//!
//! Pure value types and functions; which seats are free is the train's state, handed in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The class of a seat; first is dearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatClass {
    First,
    Second,
}

/// Why a seat, coach or layout was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    #[error("a seat looks like 2-14: a coach and a seat number from 1")]
    BadSeat,
    #[error("a coach is named by 1 to 8 letters or digits")]
    BadCoach,
    #[error("a coach holds 1 to {max} seats")]
    CoachSize { max: u32 },
    #[error("coach {0} is listed twice")]
    DuplicateCoach(String),
    #[error("a train has 1 to {max} coaches")]
    CoachCount { max: usize },
    #[error("a train has at most {max} seats")]
    Capacity { max: u32 },
}

/// A seat: its coach and its number in the coach, from 1.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeatId {
    coach: String,
    number: u32,
}

impl SeatId {
    pub fn parse(raw: &str) -> Result<Self, SeatError> {
        let (coach, digits) = raw.split_once('-').ok_or(SeatError::BadSeat)?;
        let number: u32 = digits.parse().map_err(|_| SeatError::BadSeat)?;
        // One spelling per seat: no sign, no leading zero, no seat 0.
        if number == 0 || number.to_string() != digits || !valid_coach(coach) {
            return Err(SeatError::BadSeat);
        }
        Ok(Self {
            coach: coach.to_owned(),
            number,
        })
    }

    pub fn coach(&self) -> &str {
        &self.coach
    }

    pub fn number(&self) -> u32 {
        self.number
    }
}

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.coach, self.number)
    }
}

impl Serialize for SeatId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeatId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn valid_coach(name: &str) -> bool {
    (1..=8).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One coach: its name, its class and how many seats it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coach {
    pub coach: String,
    pub class: SeatClass,
    pub seat_count: u32,
}

/// Every coach of a train, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Layout(Vec<Coach>);

impl Layout {
    /// Most seats in one coach: as many as a train may have, since a train registered without
    /// coaches has all its seats in one.
    pub const MAX_COACH_SEATS: u32 = 5000;
    /// Most coaches on one train.
    pub const MAX_COACHES: usize = 50;

    /// Checks coach names, sizes and uniqueness.
    pub fn new(coaches: Vec<Coach>) -> Result<Self, SeatError> {
        if coaches.is_empty() || coaches.len() > Self::MAX_COACHES {
            return Err(SeatError::CoachCount {
                max: Self::MAX_COACHES,
            });
        }
        for (index, coach) in coaches.iter().enumerate() {
            if !valid_coach(&coach.coach) {
                return Err(SeatError::BadCoach);
            }
            if !(1..=Self::MAX_COACH_SEATS).contains(&coach.seat_count) {
                return Err(SeatError::CoachSize {
                    max: Self::MAX_COACH_SEATS,
                });
            }
            if coaches[..index].iter().any(|c| c.coach == coach.coach) {
                return Err(SeatError::DuplicateCoach(coach.coach.clone()));
            }
        }
        let layout = Self(coaches);
        if layout.capacity() > Self::MAX_COACH_SEATS {
            return Err(SeatError::Capacity {
                max: Self::MAX_COACH_SEATS,
            });
        }
        Ok(layout)
    }

    /// What a train registered without coaches has: one second-class coach `"1"` with `seats`
    /// seats (none at all for a train of 0 seats).
    pub fn single(seats: u32) -> Self {
        Self(if seats == 0 {
            Vec::new()
        } else {
            vec![Coach {
                coach: "1".into(),
                class: SeatClass::Second,
                seat_count: seats,
            }]
        })
    }

    pub fn coaches(&self) -> &[Coach] {
        &self.0
    }

    pub fn capacity(&self) -> u32 {
        self.0.iter().map(|c| c.seat_count).sum()
    }

    /// Every seat with its class, coach by coach, in number order.
    pub fn seats(&self) -> impl Iterator<Item = (SeatId, SeatClass)> + '_ {
        self.0.iter().flat_map(|coach| {
            (1..=coach.seat_count).map(move |number| {
                let seat = SeatId {
                    coach: coach.coach.clone(),
                    number,
                };
                (seat, coach.class)
            })
        })
    }

    /// The layout with `capacity` seats: seats added at the end of the last coach (a second-class
    /// coach `"1"` when there is none), or taken away from the end, dropping coaches left
    /// empty. Also answers the seats taken away, so the caller can check they are free.
    pub fn resized(&self, capacity: u32) -> (Self, Vec<SeatId>) {
        let mut coaches = self.0.clone();
        let current = self.capacity();
        if capacity >= current {
            let more = capacity - current;
            match coaches.last_mut() {
                _ if more == 0 => {}
                Some(last) => last.seat_count += more,
                None => coaches.push(Coach {
                    coach: "1".into(),
                    class: SeatClass::Second,
                    seat_count: more,
                }),
            }
            return (Self(coaches), Vec::new());
        }
        let mut fewer = current - capacity;
        let mut removed = Vec::new();
        while fewer > 0 {
            let Some(last) = coaches.last_mut() else {
                break;
            };
            let cut = fewer.min(last.seat_count);
            removed.extend(
                (last.seat_count - cut + 1..=last.seat_count).map(|number| SeatId {
                    coach: last.coach.clone(),
                    number,
                }),
            );
            last.seat_count -= cut;
            fewer -= cut;
            if last.seat_count == 0 {
                coaches.pop();
            }
        }
        (Self(coaches), removed)
    }

    /// The class of `seat`, or `None` if the train has no such seat.
    pub fn class_of(&self, seat: &SeatId) -> Option<SeatClass> {
        self.0
            .iter()
            .find(|coach| {
                coach.coach == seat.coach && (1..=coach.seat_count).contains(&seat.number)
            })
            .map(|coach| coach.class)
    }

    /// `count` free seats of `class`, side by side where that is possible: the shortest run of
    /// consecutive free seats in one coach that fits them all (so longer runs stay whole for
    /// larger groups); failing that, seats from the longest runs first. `None` when fewer than
    /// `count` seats of the class are free.
    pub fn pick(
        &self,
        class: SeatClass,
        count: usize,
        is_free: impl Fn(&SeatId) -> bool,
    ) -> Option<Vec<SeatId>> {
        let runs = self.free_runs(class, is_free);
        if count == 0 || runs.iter().map(Vec::len).sum::<usize>() < count {
            return None;
        }
        if let Some(fit) = runs
            .iter()
            .filter(|run| run.len() >= count)
            .min_by_key(|run| run.len())
        {
            return Some(fit[..count].to_vec());
        }
        let mut longest_first: Vec<&Vec<SeatId>> = runs.iter().collect();
        // Stable: among runs of one length, the earlier coach and seat come first.
        longest_first.sort_by_key(|run| std::cmp::Reverse(run.len()));
        let mut picked: Vec<SeatId> = longest_first
            .into_iter()
            .flatten()
            .take(count)
            .cloned()
            .collect();
        picked.sort();
        Some(picked)
    }

    /// Runs of consecutive free seats of `class`, each within one coach, in layout order.
    fn free_runs(&self, class: SeatClass, is_free: impl Fn(&SeatId) -> bool) -> Vec<Vec<SeatId>> {
        let mut runs = Vec::new();
        for coach in self.0.iter().filter(|coach| coach.class == class) {
            let mut run = Vec::new();
            for number in 1..=coach.seat_count {
                let seat = SeatId {
                    coach: coach.coach.clone(),
                    number,
                };
                if is_free(&seat) {
                    run.push(seat);
                } else if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        runs
    }
}
