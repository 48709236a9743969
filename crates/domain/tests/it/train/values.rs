//! The value types that guard a train's details before a command can even be built.

use domain::{Route, SeatCount, ValueError};

const ROUTE_LENGTH: ValueError = ValueError::RouteLength { min: 1, max: 100 };
const SEATS_OUT_OF_RANGE: ValueError = ValueError::SeatsOutOfRange { max: 5000 };

#[test]
fn a_route_of_one_to_a_hundred_characters_is_accepted() {
    assert!(Route::parse("A").is_ok());
    assert!(Route::parse(&"x".repeat(100)).is_ok());
}

#[test]
fn a_route_is_counted_in_characters_not_bytes() {
    assert!(Route::parse(&"ș".repeat(100)).is_ok());
}

#[test]
fn a_blank_route_is_refused() {
    assert_eq!(Route::parse(""), Err(ROUTE_LENGTH));
    assert_eq!(Route::parse("  \t "), Err(ROUTE_LENGTH));
}

#[test]
fn a_route_longer_than_a_hundred_characters_is_refused() {
    assert_eq!(Route::parse(&"x".repeat(101)), Err(ROUTE_LENGTH));
}

#[test]
fn a_route_is_trimmed_before_it_is_measured() {
    let padded = format!("  {}  ", "x".repeat(100));
    assert_eq!(Route::parse(&padded).map(|r| r.as_str().len()), Ok(100));
}

#[test]
fn zero_to_five_thousand_seats_are_accepted() {
    assert_eq!(SeatCount::new(0).map(SeatCount::get), Ok(0));
    assert_eq!(SeatCount::new(5000).map(SeatCount::get), Ok(5000));
}

#[test]
fn negative_seats_are_refused() {
    assert_eq!(SeatCount::new(-1), Err(SEATS_OUT_OF_RANGE));
}

#[test]
fn more_than_five_thousand_seats_are_refused() {
    assert_eq!(SeatCount::new(5001), Err(SEATS_OUT_OF_RANGE));
    assert_eq!(SeatCount::new(i64::MAX), Err(SEATS_OUT_OF_RANGE));
}
