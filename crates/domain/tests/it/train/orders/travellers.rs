//! One booking per traveller does not bind an order's tickets: a traveller may hold a ticket
//! and a booking of their own on one train, and neither giving the ticket back nor renaming
//! it moves the booking's place in the rule.

use super::super::holds::ANN;
use super::super::owners::{book, traveller};
use super::super::{TRAIN, booked_in, registered};
use super::{cancelled, issue, ticket, ticket_booked, tickets_booked};
use crate::{at, given};
use domain::{BookingId, Train, TrainCommand, TrainError, TrainEvent, Traveller};

fn ann() -> Traveller {
    traveller(ANN, "ann", 1)
}

/// Another traveller of Ann's account.
fn bea() -> Traveller {
    traveller(ANN, "bea", 1)
}

/// The free train with `passenger`'s ticket 1 of order 1 in seat 1-1.
fn ticket_on_free_train(passenger: Traveller) -> Vec<TrainEvent> {
    let ticket = ticket(1, 1, "1-1", passenger);
    vec![
        registered(10),
        tickets_booked(1, std::slice::from_ref(&ticket), false, 5),
        ticket_booked(1, &ticket, 9, 5),
    ]
}

#[test]
fn a_traveller_with_a_ticket_may_still_book_the_train() {
    given::<Train>(&ticket_on_free_train(ann()))
        .when(book(2, ann()))
        .then(&[booked_in(2, ann(), "1-2", 8)]);
}

#[test]
fn a_traveller_with_a_booking_may_still_get_a_ticket() {
    let ticket = ticket(1, 1, "1-2", ann());
    given::<Train>(&[registered(10), booked_in(2, ann(), "1-1", 9)])
        .when(issue(1, vec![ticket.clone()], 11))
        .then(&[
            tickets_booked(1, std::slice::from_ref(&ticket), false, 11),
            ticket_booked(1, &ticket, 8, 11),
        ]);
}

#[test]
fn giving_a_ticket_back_keeps_the_travellers_own_booking_counted() {
    let mut history = ticket_on_free_train(ann());
    history.extend([booked_in(2, ann(), "1-2", 8), cancelled(1, Some(1), 9, 12)]);
    given::<Train>(&history)
        .when(book(3, ann()))
        .then_error(TrainError::DuplicateBooking);
}

fn rename(booking: i64, traveller: Traveller) -> TrainCommand {
    TrainCommand::ChangeBookingHolder {
        booking_id: BookingId(booking),
        user_credentials: traveller,
        at: at(15),
    }
}

fn renamed(booking: i64, traveller: Traveller) -> TrainEvent {
    TrainEvent::BookingHolderChanged {
        train_id: TRAIN,
        booking_id: BookingId(booking),
        user_credentials: traveller,
        changed_at: at(15),
    }
}

#[test]
fn a_ticket_may_be_renamed_to_a_traveller_who_has_a_booking() {
    let mut history = ticket_on_free_train(bea());
    history.push(booked_in(2, ann(), "1-2", 8));
    given::<Train>(&history)
        .when(rename(1, ann()))
        .then(&[renamed(1, ann())]);
}

#[test]
fn renaming_a_ticket_keeps_the_travellers_own_booking_counted() {
    let mut history = ticket_on_free_train(ann());
    history.extend([booked_in(2, ann(), "1-2", 8), renamed(1, bea())]);
    given::<Train>(&history)
        .when(book(3, ann()))
        .then_error(TrainError::DuplicateBooking);
}

#[test]
fn a_ticket_renamed_to_a_traveller_does_not_take_their_booking_slot() {
    let mut history = ticket_on_free_train(ann());
    history.push(renamed(1, bea()));
    given::<Train>(&history)
        .when(book(2, bea()))
        .then(&[booked_in(2, bea(), "1-2", 8)]);
}
