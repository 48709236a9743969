//! An order's tickets given back to the train, and what the orders hear when the train moves
//! or is removed.

use super::super::holds::{BEN, held, layout};
use super::super::owners::traveller;
use super::super::{TRAIN, booked_in, details};
use super::{cancelled, extended, issued, order, ticket, ticket_booked, tickets_booked};
use crate::{at, given, route, time};
use domain::{
    BookingCancelReason, BookingId, Ticket, Train, TrainCommand, TrainDetails, TrainEvent,
    TrainUpdate,
};

/// Ben's ticket 3 of his hold 2, seat 2-3.
fn bens_ticket() -> Ticket {
    ticket(3, 2, "2-3", traveller(BEN, "ben", 1))
}

/// Ann's tickets of order 1, then Ben's ticket of order 2 issued at `at(7)`.
fn two_orders() -> Vec<TrainEvent> {
    let mut history = issued();
    history.extend([
        held(2, BEN, &[("2-3", 1500)], 7, 6),
        extended(2, 2, 6),
        tickets_booked(2, &[bens_ticket()], true, 7),
        ticket_booked(2, &bens_ticket(), 7, 7),
    ]);
    history
}

fn cancel_order_tickets(order_n: u8, tickets: &[i64], minute: u32) -> TrainCommand {
    TrainCommand::CancelOrderTickets {
        order_id: order(order_n),
        ticket_ids: tickets.iter().copied().map(BookingId).collect(),
        at: at(minute),
    }
}

// Giving tickets back.

#[test]
fn an_order_gives_back_only_its_own_tickets() {
    // Ticket 3 is order 2's, and 9 is no booking at all.
    given::<Train>(&two_orders())
        .when(cancel_order_tickets(1, &[2, 3, 9, 1], 8))
        .then(&[cancelled(2, Some(1), 8, 8), cancelled(1, Some(1), 9, 8)]);
}

#[test]
fn tickets_already_given_back_are_skipped() {
    let mut history = issued();
    history.push(cancelled(1, Some(1), 9, 8));
    given::<Train>(&history)
        .when(cancel_order_tickets(1, &[1, 2], 9))
        .then(&[cancelled(2, Some(1), 10, 9)]);
    history.push(cancelled(2, Some(1), 10, 9));
    given::<Train>(&history)
        .when(cancel_order_tickets(1, &[1, 2], 10))
        .then(&[]);
}

// The orders hear of the train.

fn move_train(update: TrainUpdate) -> TrainCommand {
    TrainCommand::Update { update, at: at(20) }
}

fn changed(details: TrainDetails, seats_left: u32) -> TrainEvent {
    TrainEvent::TrainDetailsChanged {
        train_id: TRAIN,
        details,
        capacity: 10,
        seats_left,
        layout: Some(layout()),
        changed_at: at(20),
    }
}

fn rescheduled(order_n: u8, details: &TrainDetails) -> TrainEvent {
    TrainEvent::TicketsRescheduled {
        train_id: TRAIN,
        order_id: order(order_n),
        departure: details.departure_time,
        arrival: details.arrival_time,
        rescheduled_at: at(20),
    }
}

#[test]
fn a_new_departure_is_told_once_to_each_order_with_tickets_on_the_train() {
    let later = TrainDetails {
        departure_time: time("2024-09-25T08:00"),
        ..details()
    };
    given::<Train>(&two_orders())
        .when(move_train(TrainUpdate {
            departure_time: Some(later.departure_time),
            ..TrainUpdate::default()
        }))
        .then(&[
            changed(later.clone(), 7),
            rescheduled(1, &later),
            rescheduled(2, &later),
        ]);
}

#[test]
fn a_new_arrival_is_told_to_the_orders_too_but_not_to_those_that_gave_their_tickets_back() {
    let later = TrainDetails {
        arrival_time: time("2024-09-25T20:00"),
        ..details()
    };
    let mut history = two_orders();
    history.push(cancelled(3, Some(2), 8, 8));
    given::<Train>(&history)
        .when(move_train(TrainUpdate {
            arrival_time: Some(later.arrival_time),
            ..TrainUpdate::default()
        }))
        .then(&[changed(later.clone(), 8), rescheduled(1, &later)]);
}

#[test]
fn a_new_route_alone_is_not_a_reschedule() {
    let renamed = TrainDetails {
        route: route("Chisinau-Iasi"),
        ..details()
    };
    given::<Train>(&two_orders())
        .when(move_train(TrainUpdate {
            route: Some(renamed.route.clone()),
            ..TrainUpdate::default()
        }))
        .then(&[changed(renamed, 7)]);
}

#[test]
fn removing_the_train_names_the_order_of_each_ticket_it_cancels() {
    let mut history = two_orders();
    history.push(booked_in(4, "alice", "2-4", 6));
    let removed = |booking, order_n: Option<u8>, seats_left| TrainEvent::BookingCancelled {
        train_id: TRAIN,
        booking_id: BookingId(booking),
        reason: BookingCancelReason::TrainRemoved,
        seats_left,
        order_id: order_n.map(order),
        cancelled_at: at(20),
    };
    given::<Train>(&history)
        .when(TrainCommand::Remove { at: at(20) })
        .then(&[
            removed(1, Some(1), 7),
            removed(2, Some(1), 8),
            removed(3, Some(2), 9),
            removed(4, None, 10),
            TrainEvent::TrainRemoved {
                train_id: TRAIN,
                removed_at: at(20),
            },
        ]);
}
