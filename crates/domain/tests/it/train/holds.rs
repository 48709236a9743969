//! Holds: seats set aside for an account, priced when taken, ended by release, by removal of
//! the train or by time; and how they meet bookings and seat changes.

use super::{TRAIN, book, details, registered, seat_id, update};
use crate::{at, given, seats};
use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    BookingId, Coach, Currency, HoldId, HoldReleaseReason, Layout, Money, Quote, QuoteLine,
    SeatClass, SeatRequest, Tariff, Train, TrainCommand, TrainError, TrainEvent, TrainUpdate,
    UserId,
};

pub(super) const ANN: UserId = UserId(11);
pub(super) const BEN: UserId = UserId(12);
/// Ten minutes, as `HOLD_TTL_SECS=600`.
const TTL_MINUTES: i64 = 10;

pub(super) fn hold_id(n: u8) -> HoldId {
    HoldId::parse(&format!("hold-{n}")).expect("a valid hold id")
}

/// Coach 1: four first-class seats; coach 2: six second-class seats.
pub(super) fn layout() -> Layout {
    let coach = |name: &str, class, seat_count| Coach {
        coach: name.into(),
        class,
        seat_count,
    };
    Layout::new(vec![
        coach("1", SeatClass::First, 4),
        coach("2", SeatClass::Second, 6),
    ])
    .expect("a valid layout")
}

fn tariff() -> Tariff {
    Tariff::new(Currency::eur(), 2500, 1500)
}

pub(super) fn priced() -> TrainEvent {
    TrainEvent::TrainRegistered {
        train_id: TRAIN,
        details: details(),
        capacity: 10,
        stops: Vec::new(),
        layout: Some(layout()),
        tariff: Some(tariff()),
        registered_at: at(0),
    }
}

pub(super) fn hold_seats(n: u8, owner: UserId, seats: &[&str], minute: u32) -> TrainCommand {
    TrainCommand::HoldSeats {
        hold_id: hold_id(n),
        owner,
        request: SeatRequest::Seats(seats.iter().map(|s| seat_id(s)).collect()),
        ttl: TimeDelta::minutes(TTL_MINUTES),
        max_holds: 2,
        at: at(minute),
    }
}

fn line(seat: &str, amount: i64) -> QuoteLine {
    let seat = seat_id(seat);
    let class = layout().class_of(&seat).expect("a seat of the layout");
    QuoteLine {
        seat,
        class,
        amount,
    }
}

/// The hold `n` of `owner` made at `minute`, with its quote's lines.
pub(super) fn held(
    n: u8,
    owner: UserId,
    lines: &[(&str, i64)],
    seats_left: u32,
    minute: u32,
) -> TrainEvent {
    let lines: Vec<QuoteLine> = lines.iter().map(|(s, a)| line(s, *a)).collect();
    TrainEvent::SeatsHeld {
        train_id: TRAIN,
        hold_id: hold_id(n),
        owner,
        seats: lines.iter().map(|l| l.seat.clone()).collect(),
        quote: Quote {
            total: lines.iter().map(|l| l.amount).sum(),
            currency: Currency::eur(),
            lines,
        },
        expires_at: minute_plus(minute, TTL_MINUTES),
        seats_left,
        held_at: at(minute),
    }
}

fn minute_plus(minute: u32, minutes: i64) -> DateTime<Utc> {
    at(minute) + TimeDelta::minutes(minutes)
}

pub(super) fn seats_of(raw: &[&str]) -> Vec<domain::SeatId> {
    raw.iter().map(|s| seat_id(s)).collect()
}

pub(super) fn expired(n: u8, seats: &[&str], seats_left: u32, minute: u32) -> TrainEvent {
    TrainEvent::HoldExpired {
        train_id: TRAIN,
        hold_id: hold_id(n),
        seats: seats_of(seats),
        seats_left,
        expired_at: at(minute),
    }
}

pub(super) fn released(
    n: u8,
    seats: &[&str],
    reason: HoldReleaseReason,
    seats_left: u32,
) -> TrainEvent {
    TrainEvent::HoldReleased {
        train_id: TRAIN,
        hold_id: hold_id(n),
        seats: seats_of(seats),
        reason,
        seats_left,
        released_at: at(5),
    }
}

// Taking seats.

#[test]
fn holding_free_seats_takes_them_at_the_base_price_of_their_class() {
    given::<Train>(&[priced()])
        .when(hold_seats(1, ANN, &["1-1", "2-3"], 1))
        .then(&[held(1, ANN, &[("1-1", 2500), ("2-3", 1500)], 8, 1)]);
}

#[test]
fn every_seat_of_a_hold_is_priced_at_the_occupancy_before_it() {
    // Four of ten taken: below half, base prices. The hold itself takes the train past half
    // full, which prices the next hold, not this one.
    given::<Train>(&[
        priced(),
        held(1, BEN, &[("2-1", 1500), ("2-2", 1500), ("2-3", 1500)], 7, 1),
        held(2, UserId(13), &[("2-4", 1500)], 6, 1),
    ])
    .when(hold_seats(3, ANN, &["1-1", "1-2"], 2))
    .then(&[held(3, ANN, &[("1-1", 2500), ("1-2", 2500)], 4, 2)]);
}

#[test]
fn at_half_full_the_next_hold_costs_the_first_demand_tier() {
    given::<Train>(&[
        priced(),
        held(1, BEN, &[("2-1", 1500), ("2-2", 1500), ("2-3", 1500)], 7, 1),
        held(2, UserId(13), &[("2-4", 1500), ("2-5", 1500)], 5, 1),
    ])
    .when(hold_seats(3, ANN, &["1-1"], 2))
    .then(&[held(3, ANN, &[("1-1", 2875)], 4, 2)]);
}

#[test]
fn a_hold_by_count_takes_adjacent_seats_of_the_class() {
    given::<Train>(&[priced(), held(1, BEN, &[("2-2", 1500)], 9, 1)])
        .when(TrainCommand::HoldSeats {
            hold_id: hold_id(2),
            owner: ANN,
            request: SeatRequest::Count {
                count: 3,
                class: SeatClass::Second,
            },
            ttl: TimeDelta::minutes(TTL_MINUTES),
            max_holds: 2,
            at: at(2),
        })
        .then(&[held(
            2,
            ANN,
            &[("2-3", 1500), ("2-4", 1500), ("2-5", 1500)],
            6,
            2,
        )]);
}

#[test]
fn a_held_seat_cannot_be_held_again_and_the_refusal_names_it() {
    given::<Train>(&[priced(), held(1, BEN, &[("2-2", 1500)], 9, 1)])
        .when(hold_seats(2, ANN, &["2-1", "2-2"], 2))
        .then_error(TrainError::SeatsNotAvailable(seats_of(&["2-2"])));
}

#[test]
fn a_seat_the_train_does_not_have_is_refused() {
    given::<Train>(&[priced()])
        .when(hold_seats(1, ANN, &["2-7"], 1))
        .then_error(TrainError::UnknownSeat(seat_id("2-7")));
}

#[test]
fn a_hold_of_no_seats_or_of_more_than_nine_is_refused() {
    given::<Train>(&[priced()])
        .when(hold_seats(1, ANN, &[], 1))
        .then_error(TrainError::EmptyHold);
    let ten = [
        "1-1", "1-2", "1-3", "1-4", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6",
    ];
    given::<Train>(&[priced()])
        .when(hold_seats(1, ANN, &ten, 1))
        .then_error(TrainError::TooManySeats { max: 9 });
}

#[test]
fn a_seat_listed_twice_is_refused() {
    given::<Train>(&[priced()])
        .when(hold_seats(1, ANN, &["2-1", "2-1"], 1))
        .then_error(TrainError::SeatListedTwice(seat_id("2-1")));
}

#[test]
fn an_owner_at_the_cap_of_live_holds_is_refused_another() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500)], 9, 1),
        held(2, ANN, &[("2-2", 1500)], 8, 1),
    ])
    .when(hold_seats(3, ANN, &["2-3"], 2))
    .then_error(TrainError::TooManyHolds);
}

#[test]
fn another_owner_is_not_held_to_someone_elses_cap() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500)], 9, 1),
        held(2, ANN, &[("2-2", 1500)], 8, 1),
    ])
    .when(hold_seats(3, BEN, &["2-3"], 2))
    .then(&[held(3, BEN, &[("2-3", 1500)], 7, 2)]);
}

#[test]
fn holds_past_their_time_do_not_count_towards_the_cap() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500)], 9, 1),
        held(2, ANN, &[("2-2", 1500)], 8, 3),
    ])
    .when(hold_seats(3, ANN, &["2-3"], 11))
    .then(&[
        expired(1, &["2-1"], 9, 11),
        held(3, ANN, &[("2-3", 1500)], 8, 11),
    ]);
}

#[test]
fn a_train_that_has_departed_takes_no_holds() {
    let departure = details().departure_time.naive().and_utc();
    given::<Train>(&[priced()])
        .when(TrainCommand::HoldSeats {
            hold_id: hold_id(1),
            owner: ANN,
            request: SeatRequest::Seats(seats_of(&["2-1"])),
            ttl: TimeDelta::minutes(TTL_MINUTES),
            max_holds: 2,
            at: departure,
        })
        .then_error(TrainError::TrainDeparted);
}

#[test]
fn the_same_hold_again_records_nothing() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(hold_seats(1, ANN, &["2-1"], 1))
        .then(&[]);
}

// Ending holds.

#[test]
fn a_hold_is_over_at_the_very_instant_it_expires() {
    let history = [priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)];
    // One minute before the end, the seat is still held...
    given::<Train>(&history)
        .when(hold_seats(2, BEN, &["2-1"], 10))
        .then_error(TrainError::SeatsNotAvailable(seats_of(&["2-1"])));
    // ...and at the instant itself it is free, and the log says why.
    given::<Train>(&history)
        .when(hold_seats(2, BEN, &["2-1"], 11))
        .then(&[
            expired(1, &["2-1"], 10, 11),
            held(2, BEN, &[("2-1", 1500)], 9, 11),
        ]);
}

#[test]
fn expiring_holds_records_each_hold_past_its_time_and_nothing_else() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500), ("2-2", 1500)], 8, 1),
        held(2, BEN, &[("2-3", 1500)], 7, 5),
    ])
    .when(TrainCommand::ExpireHolds { at: at(12) })
    .then(&[expired(1, &["2-1", "2-2"], 9, 12)]);
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(TrainCommand::ExpireHolds { at: at(10) })
        .then(&[]);
}

#[test]
fn releasing_a_hold_frees_its_seats_at_once() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500), ("2-2", 1500)], 8, 1),
    ])
    .when(TrainCommand::ReleaseHold {
        hold_id: hold_id(1),
        at: at(5),
    })
    .then(&[released(
        1,
        &["2-1", "2-2"],
        HoldReleaseReason::Released,
        10,
    )]);
}

#[test]
fn a_hold_that_ended_cannot_be_released() {
    let release = || TrainCommand::ReleaseHold {
        hold_id: hold_id(1),
        at: at(5),
    };
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500)], 9, 1),
        released(1, &["2-1"], HoldReleaseReason::Released, 10),
    ])
    .when(release())
    .then_error(TrainError::HoldNotActive);
    // Past its time but not yet recorded as expired: still nothing to release.
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(TrainCommand::ReleaseHold {
            hold_id: hold_id(1),
            at: at(11),
        })
        .then_error(TrainError::HoldNotActive);
}

#[test]
fn removing_a_train_releases_its_holds() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(TrainCommand::Remove { at: at(5) })
        .then(&[
            released(1, &["2-1"], HoldReleaseReason::TrainRemoved, 10),
            TrainEvent::TrainRemoved {
                train_id: TRAIN,
                removed_at: at(5),
            },
        ]);
}

#[test]
fn coaches_that_disagree_with_the_seat_count_are_refused() {
    given::<Train>(&[])
        .when(TrainCommand::Register {
            train_id: TRAIN,
            details: details(),
            seats: seats(9),
            stops: Vec::new(),
            layout: Some(layout()),
            tariff: tariff(),
            at: at(0),
        })
        .then_error(TrainError::LayoutMismatch);
}

// Bookings and seat changes beside holds.

#[test]
fn a_traveller_cannot_book_a_priced_train_without_paying() {
    given::<Train>(&[priced()])
        .when(book(1, "alice"))
        .then_error(TrainError::PaymentRequired);
}

#[test]
fn an_operator_books_the_cheapest_class_at_the_price_of_the_moment() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(TrainCommand::BookSeat {
            booking_id: BookingId(1),
            user_credentials: "alice".into(),
            operator: true,
            at: at(2),
        })
        .then(&[TrainEvent::SeatBooked {
            order_id: None,
            train_id: TRAIN,
            booking_id: BookingId(1),
            user_credentials: "alice".into(),
            seat_count: 1,
            seats_left: 8,
            seat: Some(seat_id("2-2")),
            class: Some(SeatClass::Second),
            price: Some(Money {
                amount: 1500,
                currency: Currency::eur(),
            }),
            booked_at: at(2),
        }]);
}

#[test]
fn a_booking_without_a_seat_takes_none_of_the_held_ones() {
    let history = [
        registered(2),
        TrainEvent::SeatsHeld {
            train_id: TRAIN,
            hold_id: hold_id(1),
            owner: ANN,
            seats: seats_of(&["1-1", "1-2"]),
            quote: Quote {
                total: 0,
                currency: Currency::eur(),
                lines: Vec::new(),
            },
            expires_at: minute_plus(1, TTL_MINUTES),
            seats_left: 0,
            held_at: at(1),
        },
    ];
    given::<Train>(&history)
        .when(book(1, "alice"))
        .then_error(TrainError::NoSeatsLeft);
}

#[test]
fn fewer_seats_may_not_take_away_a_held_seat() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-6", 1500)], 9, 1)])
        .when(update(TrainUpdate {
            available_seats: Some(seats(8)),
            ..TrainUpdate::default()
        }))
        .then_error(TrainError::SeatsInUse(seats_of(&["2-6"])));
}

#[test]
fn more_seats_are_added_to_the_last_coach() {
    let grown = layout().resized(12).0;
    assert_eq!(grown.coaches()[1].seat_count, 8);
    given::<Train>(&[priced(), held(1, ANN, &[("2-6", 1500)], 9, 1)])
        .when(update(TrainUpdate {
            available_seats: Some(seats(11)),
            ..TrainUpdate::default()
        }))
        .then(&[TrainEvent::TrainDetailsChanged {
            train_id: TRAIN,
            details: details(),
            capacity: 12,
            seats_left: 11,
            layout: Some(grown),
            changed_at: at(5),
        }]);
}
