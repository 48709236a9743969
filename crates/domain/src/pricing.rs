//! Prices: a seat costs its class's base price, times a demand factor from the train's
//! occupancy, times a factor for the time left before departure. Money is an integer amount in
//! minor units of a currency; factors are whole percents, so every price is exact until the one
//! rounding, half up to a minor unit, of each line.
//!
//! A hold is quoted once, when it is made, and the quote is kept in its event: later demand,
//! replays and rebuilds never change what an existing hold costs.

use crate::{SeatClass, SeatId};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 code: three capital letters, such as `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// A currency code that is not three capital letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be three capital letters, such as EUR")]
pub struct BadCurrency;

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, BadCurrency> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(BadCurrency)
        }
    }

    pub fn eur() -> Self {
        Self("EUR".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = BadCurrency;

    fn try_from(raw: String) -> Result<Self, BadCurrency> {
        Self::parse(&raw)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// From this share of seats taken (held or booked, in percent), prices are multiplied by
/// `factor` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandTier {
    pub from_percent: u32,
    pub factor: u32,
}

/// With less than `within_hours` before departure, prices are multiplied by `factor` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTier {
    pub within_hours: u32,
    pub factor: u32,
}

/// How a train prices its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub currency: Currency,
    /// Base price of a first-class seat, in minor units.
    pub first: i64,
    /// Base price of a second-class seat, in minor units.
    pub second: i64,
    /// The tier with the highest `from_percent` the occupancy reaches applies; none below the
    /// lowest (factor 100).
    pub demand: Vec<DemandTier>,
    /// The tier with the smallest `within_hours` the time left is under applies; none beyond
    /// the largest (factor 100).
    pub lead: Vec<LeadTier>,
}

/// The default demand tiers: 100% below half full, then dearer as the train fills.
pub const DEFAULT_DEMAND: [DemandTier; 3] = [
    DemandTier {
        from_percent: 50,
        factor: 115,
    },
    DemandTier {
        from_percent: 80,
        factor: 130,
    },
    DemandTier {
        from_percent: 95,
        factor: 150,
    },
];

/// The default lead tiers: 100% a week or more ahead, dearer in the last week and day.
pub const DEFAULT_LEAD: [LeadTier; 2] = [
    LeadTier {
        within_hours: 168,
        factor: 110,
    },
    LeadTier {
        within_hours: 24,
        factor: 125,
    },
];

impl Tariff {
    /// Base prices with the default tiers.
    pub fn new(currency: Currency, first: i64, second: i64) -> Self {
        Self {
            currency,
            first,
            second,
            demand: DEFAULT_DEMAND.to_vec(),
            lead: DEFAULT_LEAD.to_vec(),
        }
    }

    /// A free tariff in `EUR`: what every train registered before prices existed has.
    pub fn free() -> Self {
        Self::new(Currency::eur(), 0, 0)
    }

    /// Free: every seat costs 0 whatever the tiers say.
    pub fn is_free(&self) -> bool {
        self.first == 0 && self.second == 0
    }

    /// The classes from the cheapest base price to the dearest; second class first on a tie.
    pub fn classes_cheapest_first(&self) -> [SeatClass; 2] {
        if self.first < self.second {
            [SeatClass::First, SeatClass::Second]
        } else {
            [SeatClass::Second, SeatClass::First]
        }
    }

    /// The base price of a seat of `class`, before any factor.
    pub fn base(&self, class: SeatClass) -> i64 {
        match class {
            SeatClass::First => self.first,
            SeatClass::Second => self.second,
        }
    }

    /// The demand factor when `taken` of `capacity` seats are held or booked.
    pub fn demand_factor(&self, taken: u32, capacity: u32) -> u32 {
        // Compared as taken/capacity >= from/100, in integers.
        let reached = |tier: &&DemandTier| {
            capacity > 0
                && u64::from(taken) * 100 >= u64::from(tier.from_percent) * u64::from(capacity)
        };
        self.demand
            .iter()
            .filter(reached)
            .max_by_key(|tier| tier.from_percent)
            .map_or(100, |tier| tier.factor)
    }

    /// The lead factor at `now` for a train that departs at `departure` (read as UTC).
    pub fn lead_factor(&self, now: DateTime<Utc>, departure: NaiveDateTime) -> u32 {
        let left = departure.and_utc() - now;
        self.lead
            .iter()
            .filter(|tier| left < chrono::TimeDelta::hours(i64::from(tier.within_hours)))
            .min_by_key(|tier| tier.within_hours)
            .map_or(100, |tier| tier.factor)
    }

    /// The price of one seat of `class` under the two factors, rounded half up.
    pub fn price(&self, class: SeatClass, demand: u32, lead: u32) -> i64 {
        let exact = i128::from(self.base(class)) * i128::from(demand) * i128::from(lead);
        // Factors are percents: the product carries a scale of 100 × 100.
        let rounded = (exact + 5_000).div_euclid(10_000);
        i64::try_from(rounded).unwrap_or(i64::MAX)
    }

    /// The quote for a hold of `seats`, made at `now`, when `taken` of the train's `capacity`
    /// seats were already held or booked: every seat at the same occupancy, the one before
    /// this hold.
    pub fn quote(
        &self,
        seats: &[(SeatId, SeatClass)],
        taken: u32,
        capacity: u32,
        now: DateTime<Utc>,
        departure: NaiveDateTime,
    ) -> Quote {
        let demand = self.demand_factor(taken, capacity);
        let lead = self.lead_factor(now, departure);
        let lines: Vec<QuoteLine> = seats
            .iter()
            .map(|(seat, class)| QuoteLine {
                seat: seat.clone(),
                class: *class,
                amount: self.price(*class, demand, lead),
            })
            .collect();
        Quote {
            total: lines.iter().map(|line| line.amount).sum(),
            currency: self.currency.clone(),
            lines,
        }
    }
}

/// An amount of money: whole minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

/// What a hold costs, fixed when it is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The sum of the lines, in minor units.
    pub total: i64,
    pub currency: Currency,
    pub lines: Vec<QuoteLine>,
}

/// One seat of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteLine {
    pub seat: SeatId,
    pub class: SeatClass,
    pub amount: i64,
}
