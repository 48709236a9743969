//! Seats: how they are named, how a layout is checked, and which seats a request for a number
//! of seats of a class gets.

use domain::{Coach, Layout, SeatClass, SeatError, SeatId};
use std::collections::BTreeSet;

fn seat(raw: &str) -> SeatId {
    SeatId::parse(raw).expect("a seat")
}

fn coach(name: &str, class: SeatClass, seats: u32) -> Coach {
    Coach {
        coach: name.into(),
        class,
        seat_count: seats,
    }
}

/// Two second-class coaches of 6 and a first-class one of 4.
fn layout() -> Layout {
    Layout::new(vec![
        coach("1", SeatClass::Second, 6),
        coach("2", SeatClass::Second, 6),
        coach("F", SeatClass::First, 4),
    ])
    .expect("a layout")
}

fn taken(seats: &[&str]) -> impl Fn(&SeatId) -> bool {
    let taken: BTreeSet<SeatId> = seats.iter().map(|s| seat(s)).collect();
    move |seat| !taken.contains(seat)
}

fn names(seats: Option<Vec<SeatId>>) -> Vec<String> {
    seats
        .expect("seats")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_seat_is_its_coach_and_number_spelt_one_way() {
    assert_eq!(seat("2-14").to_string(), "2-14");
    assert_eq!((seat("F-3").coach(), seat("F-3").number()), ("F", 3));
    for bad in [
        "",
        "2",
        "2-",
        "-3",
        "2-0",
        "2-03",
        "2-+3",
        "2--3",
        "a b-1",
        "123456789-1",
    ] {
        assert_eq!(SeatId::parse(bad), Err(SeatError::BadSeat), "{bad:?}");
    }
}

#[test]
fn a_train_without_coaches_has_one_second_class_coach_of_its_seats() {
    let single = Layout::single(3);
    assert_eq!(single.capacity(), 3);
    let seats: Vec<_> = single.seats().collect();
    assert_eq!(
        seats,
        vec![
            (seat("1-1"), SeatClass::Second),
            (seat("1-2"), SeatClass::Second),
            (seat("1-3"), SeatClass::Second)
        ]
    );
    assert_eq!(Layout::single(0).capacity(), 0);
}

#[test]
fn a_layout_refuses_bad_coaches() {
    let second = SeatClass::Second;
    assert_eq!(Layout::new(vec![]), Err(SeatError::CoachCount { max: 50 }));
    assert_eq!(
        Layout::new(vec![coach("1", second, 0)]),
        Err(SeatError::CoachSize { max: 5000 })
    );
    assert_eq!(
        Layout::new(vec![coach("1-A", second, 3)]),
        Err(SeatError::BadCoach)
    );
    assert_eq!(
        Layout::new(vec![coach("1", second, 3), coach("1", second, 2)]),
        Err(SeatError::DuplicateCoach("1".into()))
    );
}

#[test]
fn only_seats_the_layout_has_have_a_class() {
    let layout = layout();
    assert_eq!(layout.class_of(&seat("F-4")), Some(SeatClass::First));
    assert_eq!(layout.class_of(&seat("2-6")), Some(SeatClass::Second));
    assert_eq!(layout.class_of(&seat("F-5")), None);
    assert_eq!(layout.class_of(&seat("3-1")), None);
}

#[test]
fn a_group_gets_adjacent_seats_from_the_shortest_run_that_fits() {
    // Coach 1 has a run of 2 (1-1, 1-2) and one of 3 (1-4..1-6); coach 2 is empty (6).
    let free = taken(&["1-3"]);
    let layout = layout();
    assert_eq!(
        names(layout.pick(SeatClass::Second, 2, &free)),
        ["1-1", "1-2"]
    );
    assert_eq!(
        names(layout.pick(SeatClass::Second, 3, &free)),
        ["1-4", "1-5", "1-6"]
    );
    assert_eq!(
        names(layout.pick(SeatClass::Second, 5, &free)),
        ["2-1", "2-2", "2-3", "2-4", "2-5"]
    );
}

#[test]
fn a_group_too_large_for_any_run_takes_the_longest_runs_first() {
    // Free second-class runs: 1-1 | 1-3 1-4 | 2-2 2-3 2-4.
    let free = taken(&["1-2", "1-5", "1-6", "2-1", "2-5", "2-6"]);
    assert_eq!(
        names(layout().pick(SeatClass::Second, 4, &free)),
        ["1-3", "2-2", "2-3", "2-4"]
    );
}

#[test]
fn a_class_with_too_few_free_seats_gives_none() {
    let free = taken(&["F-1", "F-2", "F-3"]);
    let layout = layout();
    assert_eq!(names(layout.pick(SeatClass::First, 1, &free)), ["F-4"]);
    assert_eq!(layout.pick(SeatClass::First, 2, &free), None);
    assert_eq!(layout.pick(SeatClass::First, 0, &free), None);
}

#[test]
fn a_station_is_searched_without_case_or_accents() {
    assert_eq!(domain::station_key("București"), "bucuresti");
    assert_eq!(
        domain::station_key("  Chișinău  Centru "),
        "chisinau centru"
    );
    assert_eq!(domain::station_key("IAȘI"), domain::station_key("iasi"));
}

#[test]
fn stops_come_from_the_route_when_none_are_given() {
    assert_eq!(
        domain::stops_of_route("Chisinau-Iasi - Bucuresti"),
        ["Chisinau", "Iasi", "Bucuresti"]
    );
    assert_eq!(domain::stops_of_route("Express"), ["Express"]);
}

#[test]
fn stops_are_two_to_fifty_distinct_stations() {
    let names = |raw: &[&str]| raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        domain::stops(names(&[" Chisinau ", "Iasi"])),
        Ok(names(&["Chisinau", "Iasi"]))
    );
    assert_eq!(
        domain::stops(names(&["Chisinau"])),
        Err(domain::StopsError::Count { max: 50 })
    );
    assert_eq!(
        domain::stops(names(&["Iasi", "IAȘI"])),
        Err(domain::StopsError::Twice("IAȘI".into()))
    );
    assert_eq!(
        domain::stops(names(&["Iasi", " "])),
        Err(domain::StopsError::Name { max: 100 })
    );
}
