//! Prices: base price × demand factor × lead factor, each line rounded half up to a minor unit,
//! the whole hold priced at the occupancy before it.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use domain::{Currency, SeatClass, SeatId, Tariff};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("a fixed instant")
}

/// A departure `hours` after [`now`], as the schedule writes it (no zone, read as UTC).
fn departs_in(hours: i64) -> NaiveDateTime {
    (now() + TimeDelta::hours(hours)).naive_utc()
}

fn tariff() -> Tariff {
    Tariff::new(Currency::eur(), 5_000, 2_999)
}

fn seat(raw: &str) -> SeatId {
    SeatId::parse(raw).expect("a seat")
}

#[test]
fn the_default_demand_tiers_rise_as_the_train_fills() {
    let tariff = tariff();
    for (taken, factor) in [
        (0, 100),
        (49, 100),
        (50, 115),
        (79, 115),
        (80, 130),
        (94, 130),
        (95, 150),
        (100, 150),
    ] {
        assert_eq!(
            tariff.demand_factor(taken, 100),
            factor,
            "{taken} of 100 taken"
        );
    }
    // A share, not a count: 1 of 2 is half full.
    assert_eq!(tariff.demand_factor(1, 2), 115);
    assert_eq!(tariff.demand_factor(0, 0), 100);
}

#[test]
fn the_default_lead_tiers_rise_in_the_last_week_and_day() {
    let tariff = tariff();
    for (hours, factor) in [
        (24 * 30, 100),
        (168, 100),
        (167, 110),
        (24, 110),
        (23, 125),
        (0, 125),
    ] {
        assert_eq!(
            tariff.lead_factor(now(), departs_in(hours)),
            factor,
            "{hours} h ahead"
        );
    }
}

#[test]
fn a_line_is_rounded_half_up_to_a_minor_unit() {
    let tariff = tariff();
    // 2999 × 1.15 × 1.10 = 3793.735 → 3794; 2999 × 1.15 = 3448.85 → 3449.
    assert_eq!(tariff.price(SeatClass::Second, 115, 110), 3_794);
    assert_eq!(tariff.price(SeatClass::Second, 115, 100), 3_449);
    // 10 × 1.25 = 12.5 → 13, exactly half rounds up.
    let cheap = Tariff::new(Currency::eur(), 10, 10);
    assert_eq!(cheap.price(SeatClass::First, 125, 100), 13);
    assert_eq!(tariff.price(SeatClass::First, 100, 100), 5_000);
}

#[test]
fn every_seat_of_a_hold_is_priced_at_the_occupancy_before_it() {
    // 49 of 100 taken: a hold of three stays in the lowest tier although it crosses half full.
    let seats = [
        (seat("F-1"), SeatClass::First),
        (seat("2-7"), SeatClass::Second),
        (seat("2-8"), SeatClass::Second),
    ];
    let quote = tariff().quote(&seats, 49, 100, now(), departs_in(24 * 30));
    let amounts: Vec<i64> = quote.lines.iter().map(|line| line.amount).collect();
    assert_eq!(amounts, [5_000, 2_999, 2_999]);
    assert_eq!(quote.total, 10_998);
    assert_eq!(quote.currency.as_str(), "EUR");
}

#[test]
fn the_total_is_the_sum_of_the_rounded_lines() {
    // 2999 × 1.30 × 1.25 = 4873.375 → 4873 per seat; rounding the sum instead would give 9747.
    let seats = [
        (seat("1-1"), SeatClass::Second),
        (seat("1-2"), SeatClass::Second),
    ];
    let quote = tariff().quote(&seats, 80, 100, now(), departs_in(2));
    assert_eq!(quote.total, 9_746);
}

#[test]
fn a_free_train_costs_nothing_whatever_the_demand() {
    let free = Tariff::new(Currency::eur(), 0, 0);
    assert!(free.is_free());
    let quote = free.quote(
        &[(seat("1-1"), SeatClass::Second)],
        99,
        100,
        now(),
        departs_in(1),
    );
    assert_eq!(quote.total, 0);
}

#[test]
fn a_currency_is_three_capital_letters() {
    assert_eq!(
        Currency::parse("MDL").map(|c| c.to_string()),
        Ok("MDL".into())
    );
    for bad in ["", "eur", "EURO", "E1R"] {
        assert!(Currency::parse(bad).is_err(), "{bad:?}");
    }
    let quote_json = serde_json::to_value(Currency::eur()).expect("encodes");
    assert_eq!(quote_json, serde_json::json!("EUR"));
    assert!(serde_json::from_value::<Currency>(serde_json::json!("eur")).is_err());
}

/// The example README gives: second class at 1500, 80% taken, two days ahead.
#[test]
fn the_documented_example_costs_2145() {
    let tariff = Tariff::new(Currency::eur(), 2_500, 1_500);
    let quote = tariff.quote(
        &[(seat("2-1"), SeatClass::Second)],
        80,
        100,
        now(),
        departs_in(48),
    );
    assert_eq!(quote.total, 2_145);
}
