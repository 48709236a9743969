//! The train aggregate: registering, updating, removing and replaying a train. The rules that
//! consume and free seats live in `bookings`, the value types in `values`; the history and
//! command builders here are shared by both.

use crate::{at, given, route, seats, time};
use domain::{
    BookingCancelReason, BookingId, Currency, Decider, Holder, Layout, Money, SeatClass, SeatId,
    Tariff, Train, TrainCommand, TrainDetails, TrainError, TrainEvent, TrainId, TrainState,
    TrainUpdate, TravelTime, Traveller,
};

const TRAIN: TrainId = TrainId(7);

fn details() -> TrainDetails {
    TrainDetails {
        route: route("Chisinau-Bucuresti"),
        departure_time: time("2024-09-25T06:30"),
        arrival_time: time("2024-09-25T18:45"),
    }
}

fn register(details: TrainDetails, capacity: i64) -> TrainCommand {
    TrainCommand::Register {
        train_id: TRAIN,
        details,
        seats: seats(capacity),
        stops: Vec::new(),
        layout: None,
        tariff: Tariff::free(),
        at: at(0),
    }
}

fn registered(capacity: u32) -> TrainEvent {
    TrainEvent::TrainRegistered {
        train_id: TRAIN,
        details: details(),
        capacity,
        stops: Vec::new(),
        layout: Some(Layout::single(capacity)),
        tariff: Some(Tariff::free()),
        registered_at: at(0),
    }
}

fn update(update: TrainUpdate) -> TrainCommand {
    TrainCommand::Update { update, at: at(5) }
}

fn changed(details: TrainDetails, capacity: u32, seats_left: u32) -> TrainEvent {
    TrainEvent::TrainDetailsChanged {
        train_id: TRAIN,
        details,
        capacity,
        seats_left,
        layout: Some(Layout::single(capacity)),
        changed_at: at(5),
    }
}

fn book(booking: i64, user: &str) -> TrainCommand {
    TrainCommand::BookSeat {
        booking_id: BookingId(booking),
        user_credentials: user.into(),
        operator: false,
        at: at(10),
    }
}

/// Booking `booking` recorded in seat `1-<booking>`, which is where sequential bookings of a
/// fresh train land.
fn booked(booking: i64, user: &str, seats_left: u32) -> TrainEvent {
    booked_in(booking, user, &format!("1-{booking}"), seats_left)
}

fn booked_in(booking: i64, user: impl Into<Traveller>, seat: &str, seats_left: u32) -> TrainEvent {
    TrainEvent::SeatBooked {
        order_id: None,
        train_id: TRAIN,
        booking_id: BookingId(booking),
        user_credentials: user.into(),
        seat_count: 1,
        seats_left,
        seat: Some(seat_id(seat)),
        class: Some(SeatClass::Second),
        price: Some(Money {
            amount: 0,
            currency: Currency::eur(),
        }),
        booked_at: at(10),
    }
}

fn seat_id(raw: &str) -> SeatId {
    SeatId::parse(raw).expect("a valid seat")
}

fn change_holder(booking: i64, user: &str) -> TrainCommand {
    TrainCommand::ChangeBookingHolder {
        booking_id: BookingId(booking),
        user_credentials: user.into(),
        at: at(15),
    }
}

fn holder_changed(booking: i64, user: &str) -> TrainEvent {
    TrainEvent::BookingHolderChanged {
        train_id: TRAIN,
        booking_id: BookingId(booking),
        user_credentials: user.into(),
        changed_at: at(15),
    }
}

fn cancel(booking: i64) -> TrainCommand {
    TrainCommand::CancelBooking {
        booking_id: BookingId(booking),
        at: at(20),
    }
}

fn cancelled(booking: i64, reason: BookingCancelReason, seats_left: u32) -> TrainEvent {
    TrainEvent::BookingCancelled {
        order_id: None,
        train_id: TRAIN,
        booking_id: BookingId(booking),
        reason,
        seats_left,
        cancelled_at: at(20),
    }
}

fn remove() -> TrainCommand {
    TrainCommand::Remove { at: at(20) }
}

fn removed() -> TrainEvent {
    TrainEvent::TrainRemoved {
        train_id: TRAIN,
        removed_at: at(20),
    }
}

mod bookings;
mod holds;
mod orders;
mod owners;
mod values;

// Registering.

#[test]
fn registering_a_train_offers_all_its_seats() {
    given::<Train>(&[])
        .when(register(details(), 120))
        .then(&[registered(120)]);
}

#[test]
fn registering_a_train_with_departure_after_arrival_is_refused() {
    let details = TrainDetails {
        departure_time: time("2024-09-25T19:00"),
        ..details()
    };
    given::<Train>(&[])
        .when(register(details, 120))
        .then_error(TrainError::DepartureNotBeforeArrival);
}

/// A time built without `TravelTime::parse`, as a command from elsewhere might carry one.
fn unchecked_time(raw: &str) -> TravelTime {
    let naive =
        chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").expect("a well-formed time");
    TravelTime::from(naive)
}

#[test]
fn registering_a_train_that_departs_before_2000_is_refused_naming_the_departure() {
    let details = TrainDetails {
        departure_time: unchecked_time("1999-12-31T23:59"),
        ..details()
    };
    given::<Train>(&[])
        .when(register(details, 120))
        .then_error(TrainError::TravelTimeOutOfRange {
            field: "departure_time",
        });
}

#[test]
fn registering_a_train_that_arrives_after_2099_is_refused_naming_the_arrival() {
    let details = TrainDetails {
        arrival_time: unchecked_time("2100-01-01T00:00"),
        ..details()
    };
    given::<Train>(&[])
        .when(register(details, 120))
        .then_error(TrainError::TravelTimeOutOfRange {
            field: "arrival_time",
        });
}

#[test]
fn a_train_on_the_edges_of_the_years_it_may_use_is_registered() {
    let details = TrainDetails {
        departure_time: time("2000-01-01T00:00"),
        arrival_time: time("2099-12-31T23:59"),
        ..details()
    };
    let event = TrainEvent::TrainRegistered {
        train_id: TRAIN,
        details: details.clone(),
        capacity: 120,
        stops: Vec::new(),
        layout: Some(Layout::single(120)),
        tariff: Some(Tariff::free()),
        registered_at: at(0),
    };
    given::<Train>(&[])
        .when(register(details, 120))
        .then(&[event]);
}

#[test]
fn an_update_moving_departure_past_2099_is_refused() {
    given::<Train>(&[registered(120)])
        .when(update(TrainUpdate {
            departure_time: Some(unchecked_time("2100-06-01T10:00")),
            arrival_time: Some(unchecked_time("2100-06-02T10:00")),
            ..TrainUpdate::default()
        }))
        .then_error(TrainError::TravelTimeOutOfRange {
            field: "departure_time",
        });
}

#[test]
fn registering_a_train_that_arrives_when_it_departs_is_refused() {
    let details = TrainDetails {
        arrival_time: time("2024-09-25T06:30"),
        ..details()
    };
    given::<Train>(&[])
        .when(register(details, 120))
        .then_error(TrainError::DepartureNotBeforeArrival);
}

#[test]
fn registering_a_train_twice_is_refused() {
    given::<Train>(&[registered(120)])
        .when(register(details(), 120))
        .then_error(TrainError::TrainAlreadyExists);
}

#[test]
fn a_removed_train_cannot_be_registered_again() {
    given::<Train>(&[registered(120), removed()])
        .when(register(details(), 120))
        .then_error(TrainError::TrainAlreadyExists);
}

// Updating.

#[test]
fn updating_the_route_records_the_whole_details_after_the_change() {
    let new_route = TrainUpdate {
        route: Some(route("Chisinau-Iasi")),
        ..TrainUpdate::default()
    };
    let expected = TrainDetails {
        route: route("Chisinau-Iasi"),
        ..details()
    };
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(update(new_route))
        .then(&[changed(expected, 120, 119)]);
}

#[test]
fn updating_available_seats_sets_capacity_to_booked_plus_available() {
    let ten_free = TrainUpdate {
        available_seats: Some(seats(10)),
        ..TrainUpdate::default()
    };
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        booked(2, "bob", 118),
    ])
    .when(update(ten_free))
    .then(&[changed(details(), 12, 10)]);
}

#[test]
fn updating_available_seats_to_zero_keeps_the_booked_seats() {
    let none_free = TrainUpdate {
        available_seats: Some(seats(0)),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(update(none_free))
        .then(&[changed(details(), 1, 0)]);
}

#[test]
fn an_update_reaching_exactly_five_thousand_seats_is_accepted() {
    let most = TrainUpdate {
        available_seats: Some(seats(4999)),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(update(most))
        .then(&[changed(details(), 5000, 4999)]);
}

#[test]
fn an_update_where_booked_plus_available_exceeds_five_thousand_is_refused() {
    let too_many = TrainUpdate {
        available_seats: Some(seats(5000)),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(update(too_many))
        .then_error(TrainError::CapacityExceeded);
}

#[test]
fn an_update_that_changes_nothing_yields_no_events() {
    let same = TrainUpdate {
        route: Some(details().route),
        departure_time: Some(details().departure_time),
        arrival_time: Some(details().arrival_time),
        available_seats: Some(seats(119)),
    };
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(update(same))
        .then(&[]);
}

#[test]
fn an_empty_update_yields_no_events() {
    given::<Train>(&[registered(120)])
        .when(update(TrainUpdate::default()))
        .then(&[]);
}

#[test]
fn an_update_moving_departure_after_arrival_is_refused() {
    let late = TrainUpdate {
        departure_time: Some(time("2024-09-25T19:00")),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120)])
        .when(update(late))
        .then_error(TrainError::DepartureNotBeforeArrival);
}

#[test]
fn an_update_moving_only_arrival_before_departure_is_refused() {
    let early = TrainUpdate {
        arrival_time: Some(time("2024-09-25T06:00")),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120)])
        .when(update(early))
        .then_error(TrainError::DepartureNotBeforeArrival);
}

#[test]
fn an_update_is_checked_against_the_times_of_earlier_updates() {
    let later = TrainDetails {
        departure_time: time("2024-09-25T12:00"),
        ..details()
    };
    let early = TrainUpdate {
        arrival_time: Some(time("2024-09-25T11:00")),
        ..TrainUpdate::default()
    };
    given::<Train>(&[registered(120), changed(later, 120, 120)])
        .when(update(early))
        .then_error(TrainError::DepartureNotBeforeArrival);
}

#[test]
fn updating_an_unknown_train_is_refused() {
    given::<Train>(&[])
        .when(update(TrainUpdate::default()))
        .then_error(TrainError::TrainNotFound);
}

#[test]
fn updating_a_removed_train_is_refused() {
    given::<Train>(&[registered(120), removed()])
        .when(update(TrainUpdate::default()))
        .then_error(TrainError::TrainNotFound);
}

// Removing.

#[test]
fn removing_a_train_cancels_every_active_booking_then_removes_it() {
    let (requested, train_removed) = (
        BookingCancelReason::Requested,
        BookingCancelReason::TrainRemoved,
    );
    given::<Train>(&[
        registered(10),
        booked(1, "alice", 9),
        booked(2, "bob", 8),
        booked(3, "carol", 7),
        cancelled(2, requested, 8),
    ])
    .when(remove())
    .then(&[
        cancelled(1, train_removed, 9),
        cancelled(3, train_removed, 10),
        removed(),
    ]);
}

#[test]
fn removing_a_train_without_bookings_only_removes_it() {
    given::<Train>(&[registered(120)])
        .when(remove())
        .then(&[removed()]);
}

#[test]
fn removing_a_train_twice_is_refused() {
    given::<Train>(&[registered(120), removed()])
        .when(remove())
        .then_error(TrainError::TrainNotFound);
}

#[test]
fn removing_an_unknown_train_is_refused() {
    given::<Train>(&[])
        .when(remove())
        .then_error(TrainError::TrainNotFound);
}

// Replaying.

#[test]
fn replaying_a_history_rebuilds_seats_and_holders() {
    let state = Train::fold(&[
        registered(3),
        booked(1, "alice", 2),
        booked(2, "bob", 1),
        holder_changed(2, "carol"),
        cancelled(1, BookingCancelReason::Requested, 2),
    ]);
    let TrainState::Active(train) = state else {
        panic!("expected an active train, got {state:?}");
    };
    assert_eq!(
        (train.capacity(), train.booked(), train.seats_left()),
        (3, 1, 2)
    );
    assert_eq!(
        train.holders.into_iter().collect::<Vec<_>>(),
        [(Holder::Named("carol".to_owned()), BookingId(2))]
    );
}

#[test]
fn a_removed_train_stays_removed_whatever_follows_in_the_log() {
    let state = Train::fold(&[registered(3), removed(), booked(1, "alice", 2)]);
    assert_eq!(state, TrainState::Removed);
}
