//! Booking, handing a booking over and cancelling it: the rules that consume and free seats.

use super::{
    book, booked, booked_in, cancel, cancelled, change_holder, changed, details, holder_changed,
};
use super::{registered, removed};
use crate::given;
use domain::{BookingCancelReason, Train, TrainError};

const MAX_CREDENTIALS: TrainError = TrainError::InvalidUserCredentials { max: 100 };

// Booking.

#[test]
fn booking_a_seat_records_the_seats_left() {
    given::<Train>(&[registered(120)])
        .when(book(1, "alice"))
        .then(&[booked(1, "alice", 119)]);
}

#[test]
fn booking_under_an_id_already_in_use_is_refused() {
    given::<Train>(&[registered(10), booked(1, "alice", 9)])
        .when(book(1, "bob"))
        .then_error(TrainError::BookingIdTaken);
}

#[test]
fn booking_the_last_seat_twice_is_refused() {
    given::<Train>(&[registered(1), booked(1, "alice", 0)])
        .when(book(2, "bob"))
        .then_error(TrainError::NoSeatsLeft);
}

#[test]
fn booking_on_a_train_without_seats_is_refused() {
    given::<Train>(&[registered(0)])
        .when(book(1, "alice"))
        .then_error(TrainError::NoSeatsLeft);
}

#[test]
fn booking_after_available_seats_dropped_to_zero_is_refused() {
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        changed(details(), 1, 0),
    ])
    .when(book(2, "bob"))
    .then_error(TrainError::NoSeatsLeft);
}

#[test]
fn a_user_cannot_book_twice_on_the_same_train() {
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(book(2, "alice"))
        .then_error(TrainError::DuplicateBooking);
}

#[test]
fn a_user_whose_booking_was_cancelled_can_book_again() {
    let requested = BookingCancelReason::Requested;
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        cancelled(1, requested, 120),
    ])
    .when(book(2, "alice"))
    .then(&[booked_in(2, "alice", "1-1", 119)]);
}

#[test]
fn user_credentials_are_trimmed_before_booking() {
    given::<Train>(&[registered(120)])
        .when(book(1, "  alice\t"))
        .then(&[booked(1, "alice", 119)]);
}

#[test]
fn credentials_differing_only_in_surrounding_blanks_are_the_same_user() {
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(book(2, " alice "))
        .then_error(TrainError::DuplicateBooking);
}

#[test]
fn blank_user_credentials_are_refused() {
    given::<Train>(&[registered(120)])
        .when(book(1, "   "))
        .then_error(MAX_CREDENTIALS);
}

#[test]
fn user_credentials_of_a_hundred_characters_are_accepted() {
    let longest = "ă".repeat(100);
    given::<Train>(&[registered(120)])
        .when(book(1, &longest))
        .then(&[booked(1, &longest, 119)]);
}

#[test]
fn user_credentials_longer_than_a_hundred_characters_are_refused() {
    given::<Train>(&[registered(120)])
        .when(book(1, &"x".repeat(101)))
        .then_error(MAX_CREDENTIALS);
}

#[test]
fn booking_on_an_unknown_train_is_refused() {
    given::<Train>(&[])
        .when(book(1, "alice"))
        .then_error(TrainError::TrainNotFound);
}

#[test]
fn booking_on_a_removed_train_is_refused() {
    given::<Train>(&[registered(120), removed()])
        .when(book(1, "alice"))
        .then_error(TrainError::TrainNotFound);
}

// Changing who holds a booking.

#[test]
fn changing_the_booking_holder_records_the_new_holder() {
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(change_holder(1, " bob "))
        .then(&[holder_changed(1, "bob")]);
}

#[test]
fn changing_the_holder_to_a_user_who_already_holds_a_booking_is_refused() {
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        booked(2, "bob", 118),
    ])
    .when(change_holder(1, "bob"))
    .then_error(TrainError::DuplicateBooking);
}

#[test]
fn changing_the_holder_to_the_current_holder_yields_no_events() {
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(change_holder(1, "alice"))
        .then(&[]);
}

#[test]
fn the_previous_holder_can_book_again_after_handing_over() {
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        holder_changed(1, "bob"),
    ])
    .when(book(2, "alice"))
    .then(&[booked(2, "alice", 118)]);
}

#[test]
fn the_new_holder_cannot_book_again_after_taking_over() {
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        holder_changed(1, "bob"),
    ])
    .when(book(2, "bob"))
    .then_error(TrainError::DuplicateBooking);
}

#[test]
fn changing_the_holder_of_an_unknown_booking_is_refused() {
    given::<Train>(&[registered(120)])
        .when(change_holder(1, "bob"))
        .then_error(TrainError::BookingNotFound);
}

#[test]
fn changing_the_holder_to_blank_credentials_is_refused() {
    given::<Train>(&[registered(120), booked(1, "alice", 119)])
        .when(change_holder(1, " "))
        .then_error(MAX_CREDENTIALS);
}

// Cancelling.

#[test]
fn cancelling_a_booking_frees_a_seat() {
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        booked(2, "bob", 118),
    ])
    .when(cancel(1))
    .then(&[cancelled(1, BookingCancelReason::Requested, 119)]);
}

#[test]
fn a_freed_seat_can_be_booked_again() {
    let requested = BookingCancelReason::Requested;
    given::<Train>(&[
        registered(1),
        booked(1, "alice", 0),
        cancelled(1, requested, 1),
    ])
    .when(book(2, "bob"))
    .then(&[booked_in(2, "bob", "1-1", 0)]);
}

#[test]
fn cancelling_a_booking_twice_is_refused() {
    let requested = BookingCancelReason::Requested;
    given::<Train>(&[
        registered(120),
        booked(1, "alice", 119),
        cancelled(1, requested, 120),
    ])
    .when(cancel(1))
    .then_error(TrainError::BookingNotFound);
}

#[test]
fn cancelling_an_unknown_booking_is_refused() {
    given::<Train>(&[registered(120)])
        .when(cancel(1))
        .then_error(TrainError::BookingNotFound);
}

#[test]
fn cancelling_on_an_unknown_train_is_refused() {
    given::<Train>(&[])
        .when(cancel(1))
        .then_error(TrainError::TrainNotFound);
}
