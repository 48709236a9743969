//! The train's side of orders: a hold kept while its order is paid for, and the order's tickets
//! booked from it (or its seats taken again after it ended, or refused). None of it is refused
//! as an error: the order hears of a refusal as an event. How tickets go back and what orders
//! hear of the train are in `tickets`; how tickets meet the one-booking-per-traveller rule is
//! in `travellers`. The builders here are shared by both.

use super::holds::{ANN, BEN, expired, held, hold_id, hold_seats, priced, released, seats_of};
use super::owners::traveller;
use super::{TRAIN, details, seat_id};
use crate::{at, given};
use domain::{
    BookingCancelReason, BookingId, Currency, HoldReleaseReason, Money, OrderId, SeatClass, Ticket,
    Train, TrainCommand, TrainError, TrainEvent, Traveller, UserId,
};

mod tickets;
mod travellers;

fn order(n: u8) -> OrderId {
    OrderId::parse(&format!("ord-{n}")).expect("a valid order id")
}

fn extend(n: u8, owner: UserId, order_n: u8, minute: u32) -> TrainCommand {
    TrainCommand::ExtendHold {
        hold_id: hold_id(n),
        owner,
        order_id: order(order_n),
        until: at(30),
        at: at(minute),
    }
}

/// Hold `n` kept for order `order_n` until `at(30)`.
fn extended(n: u8, order_n: u8, minute: u32) -> TrainEvent {
    TrainEvent::HoldExtended {
        train_id: TRAIN,
        hold_id: hold_id(n),
        order_id: order(order_n),
        expires_at: at(30),
        extended_at: at(minute),
    }
}

fn extension_refused(n: u8, order_n: u8, minute: u32) -> TrainEvent {
    TrainEvent::HoldExtensionRefused {
        train_id: TRAIN,
        hold_id: hold_id(n),
        order_id: order(order_n),
        refused_at: at(minute),
    }
}

/// Ticket `id` of hold `hold_n` for the second-class seat `seat`, at 1500.
fn ticket(id: i64, hold_n: u8, seat: &str, passenger: Traveller) -> Ticket {
    Ticket {
        ticket_id: BookingId(id),
        train_id: TRAIN,
        hold_id: hold_id(hold_n),
        seat: seat_id(seat),
        class: SeatClass::Second,
        amount: 1500,
        passenger,
        departure: details().departure_time,
    }
}

/// Ann's two tickets of hold 1, seats 2-1 and 2-2.
fn anns_tickets() -> Vec<Ticket> {
    vec![
        ticket(1, 1, "2-1", traveller(ANN, "ann", 1)),
        ticket(2, 1, "2-2", traveller(ANN, "cat", 1)),
    ]
}

fn issue(order_n: u8, tickets: Vec<Ticket>, minute: u32) -> TrainCommand {
    TrainCommand::IssueTickets {
        order_id: order(order_n),
        hold_id: tickets[0].hold_id.clone(),
        tickets,
        currency: Currency::eur(),
        at: at(minute),
    }
}

fn tickets_booked(order_n: u8, tickets: &[Ticket], hold_live: bool, minute: u32) -> TrainEvent {
    TrainEvent::OrderTicketsBooked {
        train_id: TRAIN,
        hold_id: tickets[0].hold_id.clone(),
        order_id: order(order_n),
        ticket_ids: tickets.iter().map(|t| t.ticket_id).collect(),
        seats: tickets.iter().map(|t| t.seat.clone()).collect(),
        hold_live,
        issued_at: at(minute),
    }
}

/// The booking of `ticket` for order `order_n`.
fn ticket_booked(order_n: u8, ticket: &Ticket, seats_left: u32, minute: u32) -> TrainEvent {
    TrainEvent::SeatBooked {
        train_id: TRAIN,
        booking_id: ticket.ticket_id,
        user_credentials: ticket.passenger.clone(),
        seat_count: 1,
        seats_left,
        seat: Some(ticket.seat.clone()),
        class: Some(ticket.class),
        price: Some(Money {
            amount: ticket.amount,
            currency: Currency::eur(),
        }),
        order_id: Some(order(order_n)),
        booked_at: at(minute),
    }
}

/// Ann's hold 1 of seats 2-1 and 2-2, made at `at(1)` and kept for order 1 from `at(2)`.
fn kept_for_order() -> Vec<TrainEvent> {
    vec![
        priced(),
        held(1, ANN, &[("2-1", 1500), ("2-2", 1500)], 8, 1),
        extended(1, 1, 2),
    ]
}

/// Ann's tickets issued at `at(5)` from her live hold.
fn issued() -> Vec<TrainEvent> {
    let tickets = anns_tickets();
    let mut history = kept_for_order();
    history.extend([
        tickets_booked(1, &tickets, true, 5),
        ticket_booked(1, &tickets[0], 9, 5),
        ticket_booked(1, &tickets[1], 8, 5),
    ]);
    history
}

fn cancelled(booking: i64, order_n: Option<u8>, seats_left: u32, minute: u32) -> TrainEvent {
    TrainEvent::BookingCancelled {
        train_id: TRAIN,
        booking_id: BookingId(booking),
        reason: BookingCancelReason::Requested,
        seats_left,
        order_id: order_n.map(order),
        cancelled_at: at(minute),
    }
}

// Keeping a hold for an order.

#[test]
fn a_live_hold_of_the_owner_is_kept_for_the_order_until_its_due_time() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(extend(1, ANN, 1, 2))
        .then(&[extended(1, 1, 2)]);
}

#[test]
fn a_kept_hold_outlives_its_own_time() {
    given::<Train>(&kept_for_order())
        .when(hold_seats(2, BEN, &["2-1"], 20))
        .then_error(TrainError::SeatsNotAvailable(seats_of(&["2-1"])));
}

#[test]
fn a_hold_of_another_owner_is_not_kept() {
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(extend(1, BEN, 1, 2))
        .then(&[extension_refused(1, 1, 2)]);
}

#[test]
fn a_released_or_unknown_hold_is_not_kept() {
    given::<Train>(&[
        priced(),
        held(1, ANN, &[("2-1", 1500)], 9, 1),
        released(1, &["2-1"], HoldReleaseReason::Released, 10),
    ])
    .when(extend(1, ANN, 1, 6))
    .then(&[extension_refused(1, 1, 6)]);
    given::<Train>(&[priced()])
        .when(extend(1, ANN, 1, 2))
        .then(&[extension_refused(1, 1, 2)]);
}

#[test]
fn a_hold_past_its_time_is_recorded_as_expired_then_refused() {
    // Made at 12:01 for ten minutes: over at 12:11 itself.
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(extend(1, ANN, 1, 11))
        .then(&[expired(1, &["2-1"], 10, 11), extension_refused(1, 1, 11)]);
}

#[test]
fn a_hold_kept_for_one_order_is_not_kept_for_another() {
    given::<Train>(&kept_for_order())
        .when(extend(1, ANN, 2, 3))
        .then(&[extension_refused(1, 2, 3)]);
}

#[test]
fn keeping_a_hold_again_for_the_same_order_and_time_records_nothing() {
    given::<Train>(&kept_for_order())
        .when(extend(1, ANN, 1, 3))
        .then(&[]);
}

// Letting a kept hold go.

#[test]
fn a_hold_kept_for_an_order_cannot_be_released_on_its_own() {
    given::<Train>(&kept_for_order())
        .when(TrainCommand::ReleaseHold {
            hold_id: hold_id(1),
            at: at(5),
        })
        .then_error(TrainError::HoldInOrder);
}

fn release_for_order(order_n: u8, minute: u32) -> TrainCommand {
    TrainCommand::ReleaseOrderHold {
        order_id: order(order_n),
        hold_id: hold_id(1),
        at: at(minute),
    }
}

#[test]
fn an_order_that_ended_lets_its_kept_hold_go() {
    given::<Train>(&kept_for_order())
        .when(release_for_order(1, 5))
        .then(&[released(
            1,
            &["2-1", "2-2"],
            HoldReleaseReason::Released,
            10,
        )]);
}

#[test]
fn an_order_lets_go_of_nothing_but_its_own_live_hold() {
    given::<Train>(&kept_for_order())
        .when(release_for_order(2, 5))
        .then(&[]);
    given::<Train>(&kept_for_order())
        .when(release_for_order(1, 30))
        .then(&[]);
    given::<Train>(&[priced(), held(1, ANN, &[("2-1", 1500)], 9, 1)])
        .when(release_for_order(1, 5))
        .then(&[]);
}

// Issuing an order's tickets.

#[test]
fn a_paid_live_hold_becomes_one_booking_per_ticket_leaving_the_seats_left_as_they_were() {
    let tickets = anns_tickets();
    given::<Train>(&kept_for_order())
        .when(issue(1, tickets.clone(), 5))
        .then(&[
            tickets_booked(1, &tickets, true, 5),
            ticket_booked(1, &tickets[0], 9, 5),
            ticket_booked(1, &tickets[1], 8, 5),
        ]);
}

#[test]
fn a_hold_that_ended_has_its_seats_taken_again_while_they_are_free() {
    let tickets = anns_tickets();
    given::<Train>(&kept_for_order())
        .when(issue(1, tickets.clone(), 31))
        .then(&[
            expired(1, &["2-1", "2-2"], 10, 31),
            tickets_booked(1, &tickets, false, 31),
            ticket_booked(1, &tickets[0], 9, 31),
            ticket_booked(1, &tickets[1], 8, 31),
        ]);
}

#[test]
fn seats_taken_by_another_hold_since_are_named_in_the_refusal() {
    let mut history = kept_for_order();
    history.extend([
        expired(1, &["2-1", "2-2"], 10, 30),
        held(2, BEN, &[("2-2", 1500)], 9, 31),
    ]);
    given::<Train>(&history)
        .when(issue(1, anns_tickets(), 32))
        .then(&[TrainEvent::TicketsRefused {
            train_id: TRAIN,
            hold_id: hold_id(1),
            order_id: order(1),
            taken: seats_of(&["2-2"]),
            refused_at: at(32),
        }]);
}

#[test]
fn a_train_that_has_left_issues_no_tickets() {
    let departure = details().departure_time.naive().and_utc();
    given::<Train>(&kept_for_order())
        .when(TrainCommand::IssueTickets {
            order_id: order(1),
            hold_id: hold_id(1),
            tickets: anns_tickets(),
            currency: Currency::eur(),
            at: departure,
        })
        .then(&[
            TrainEvent::HoldExpired {
                train_id: TRAIN,
                hold_id: hold_id(1),
                seats: seats_of(&["2-1", "2-2"]),
                seats_left: 10,
                expired_at: departure,
            },
            TrainEvent::TicketsRefused {
                train_id: TRAIN,
                hold_id: hold_id(1),
                order_id: order(1),
                taken: Vec::new(),
                refused_at: departure,
            },
        ]);
}

#[test]
fn a_removed_train_refuses_the_tickets_of_an_order_paid_after_its_removal() {
    let mut history = kept_for_order();
    history.extend([
        TrainEvent::HoldReleased {
            train_id: TRAIN,
            hold_id: hold_id(1),
            seats: seats_of(&["2-1", "2-2"]),
            reason: HoldReleaseReason::TrainRemoved,
            seats_left: 10,
            released_at: at(3),
        },
        TrainEvent::TrainRemoved {
            train_id: TRAIN,
            removed_at: at(3),
        },
    ]);
    given::<Train>(&history)
        .when(issue(1, anns_tickets(), 5))
        .then(&[TrainEvent::TicketsRefused {
            train_id: TRAIN,
            hold_id: hold_id(1),
            order_id: order(1),
            taken: Vec::new(),
            refused_at: at(5),
        }]);
}

#[test]
fn issuing_the_same_tickets_again_records_nothing() {
    given::<Train>(&issued())
        .when(issue(1, anns_tickets(), 6))
        .then(&[]);
}

#[test]
fn tickets_under_booking_ids_already_in_use_are_refused() {
    let ben = || traveller(BEN, "ben", 1);
    let clash = vec![ticket(2, 2, "2-5", ben()), ticket(5, 2, "2-6", ben())];
    given::<Train>(&issued())
        .when(issue(2, clash, 6))
        .then_error(TrainError::BookingIdTaken);
}
