//! Cancelling: before payment an order just ends and lets its holds go; after confirmation its
//! tickets go back to their trains, refunded by the policy; a removed train refunds its tickets
//! in full, and a rescheduled one lets them go in full until it leaves.

use super::{
    OWNER, TOTAL, TRAIN_A, TRAIN_B, before_departure, cancel, cancel_ticket, confirmed_one_train,
    confirmed_two_trains, gone, one_train, order_cancelled, order_id, paid, placed,
    refund_requested, tickets_cancelled, time, two_trains,
};
use crate::{at, given};
use chrono::TimeDelta;
use domain::{
    BookingId, OrderCancelReason, OrderCommand, OrderError, OrderEvent, Orders, TicketCancelReason,
    TrainId, TravelTime,
};

const REQUESTED: TicketCancelReason = TicketCancelReason::Requested;

// Before payment.

#[test]
fn cancelling_before_payment_ends_the_order_and_lets_its_holds_go() {
    given::<Orders>(&[placed(two_trains())])
        .when(cancel(at(5)))
        .then(&[order_cancelled(
            OrderCancelReason::Requested,
            &[(TRAIN_A, 1), (TRAIN_B, 2)],
            5,
        )]);
}

#[test]
fn an_order_that_ended_unpaid_has_nothing_to_cancel() {
    let history = [
        placed(one_train()),
        order_cancelled(OrderCancelReason::Requested, &[(TRAIN_A, 1)], 5),
    ];
    given::<Orders>(&history)
        .when(cancel(at(6)))
        .then_error(OrderError::NothingToCancel);
    given::<Orders>(&[placed(one_train()), super::expired(30)])
        .when(cancel(at(31)))
        .then_error(OrderError::NothingToCancel);
}

#[test]
fn an_order_being_confirmed_cannot_be_cancelled_yet() {
    given::<Orders>(&paid(one_train()))
        .when(cancel(at(3)))
        .then_error(OrderError::BeingConfirmed);
    given::<Orders>(&paid(one_train()))
        .when(cancel_ticket(1, at(3)))
        .then_error(OrderError::BeingConfirmed);
}

// After confirmation, by the policy.

/// Cancelling the whole confirmed one-train order `left` before departure: both tickets go
/// back to train A with these refunds.
fn cancelled_whole(left: TimeDelta, first: i64, second: i64) -> Vec<OrderEvent> {
    let when = before_departure(left);
    let mut events = vec![tickets_cancelled(
        vec![
            gone(1, TRAIN_A, true, first),
            gone(2, TRAIN_A, true, second),
        ],
        REQUESTED,
        when,
    )];
    if first + second > 0 {
        events.push(refund_requested(1, first + second, REQUESTED, when));
    }
    events
}

#[test]
fn cancelling_more_than_seven_days_before_departure_refunds_everything() {
    let left = TimeDelta::days(7) + TimeDelta::seconds(1);
    given::<Orders>(&confirmed_one_train())
        .when(cancel(before_departure(left)))
        .then(&cancelled_whole(left, 1500, 2500));
}

#[test]
fn cancelling_exactly_seven_days_before_departure_refunds_half() {
    let left = TimeDelta::days(7);
    given::<Orders>(&confirmed_one_train())
        .when(cancel(before_departure(left)))
        .then(&cancelled_whole(left, 750, 1250));
}

#[test]
fn cancelling_exactly_a_day_before_departure_still_refunds_half() {
    let left = TimeDelta::hours(24);
    given::<Orders>(&confirmed_one_train())
        .when(cancel(before_departure(left)))
        .then(&cancelled_whole(left, 750, 1250));
}

#[test]
fn cancelling_within_a_day_of_departure_refunds_nothing_and_asks_no_refund() {
    let left = TimeDelta::hours(24) - TimeDelta::seconds(1);
    given::<Orders>(&confirmed_one_train())
        .when(cancel(before_departure(left)))
        .then(&cancelled_whole(left, 0, 0));
}

#[test]
fn a_train_that_has_left_cannot_be_cancelled() {
    given::<Orders>(&confirmed_one_train())
        .when(cancel(before_departure(TimeDelta::zero())))
        .then_error(OrderError::TrainDeparted);
}

#[test]
fn an_order_whose_tickets_are_all_given_up_has_nothing_left_to_cancel() {
    let left = TimeDelta::days(10);
    let mut history = confirmed_one_train();
    history.extend(cancelled_whole(left, 1500, 2500));
    given::<Orders>(&history)
        .when(cancel(before_departure(left)))
        .then_error(OrderError::NothingToCancel);
}

// One ticket.

#[test]
fn cancelling_one_ticket_of_two_refunds_that_ticket_alone() {
    let when = before_departure(TimeDelta::days(10));
    given::<Orders>(&confirmed_two_trains())
        .when(cancel_ticket(2, when))
        .then(&[
            tickets_cancelled(vec![gone(2, TRAIN_B, true, 2500)], REQUESTED, when),
            refund_requested(1, 2500, REQUESTED, when),
        ]);
}

#[test]
fn each_refund_of_an_order_gets_the_next_refund_id() {
    let when = before_departure(TimeDelta::days(10));
    let mut history = confirmed_two_trains();
    history.extend([
        tickets_cancelled(vec![gone(2, TRAIN_B, true, 2500)], REQUESTED, when),
        refund_requested(1, 2500, REQUESTED, when),
    ]);
    given::<Orders>(&history).when(cancel(when)).then(&[
        tickets_cancelled(vec![gone(1, TRAIN_A, true, 1500)], REQUESTED, when),
        refund_requested(2, 1500, REQUESTED, when),
    ]);
}

#[test]
fn a_ticket_the_order_does_not_have_is_not_found() {
    given::<Orders>(&confirmed_two_trains())
        .when(cancel_ticket(9, before_departure(TimeDelta::days(10))))
        .then_error(OrderError::TicketNotFound);
}

#[test]
fn a_ticket_already_given_up_cannot_be_cancelled_again() {
    let when = before_departure(TimeDelta::days(10));
    let mut history = confirmed_two_trains();
    history.extend([
        tickets_cancelled(vec![gone(2, TRAIN_B, true, 2500)], REQUESTED, when),
        refund_requested(1, 2500, REQUESTED, when),
    ]);
    given::<Orders>(&history)
        .when(cancel_ticket(2, when))
        .then_error(OrderError::NothingToCancel);
}

// What the trains tell the order.

fn note_train_removed(train: TrainId, tickets: &[i64], minute: u32) -> OrderCommand {
    OrderCommand::NoteTrainRemoved {
        train_id: train,
        ticket_ids: tickets.iter().copied().map(BookingId).collect(),
        at: at(minute),
    }
}

#[test]
fn a_removed_train_refunds_its_tickets_in_full_which_it_cancelled_itself() {
    given::<Orders>(&confirmed_two_trains())
        .when(note_train_removed(TRAIN_B, &[2], 10))
        .then(&[
            tickets_cancelled(
                vec![gone(2, TRAIN_B, false, 2500)],
                TicketCancelReason::TrainRemoved,
                at(10),
            ),
            refund_requested(1, 2500, TicketCancelReason::TrainRemoved, at(10)),
        ]);
}

#[test]
fn a_removed_train_without_tickets_of_the_order_changes_nothing() {
    given::<Orders>(&confirmed_one_train())
        .when(note_train_removed(TRAIN_B, &[7], 10))
        .then(&[]);
    let mut history = confirmed_two_trains();
    history.extend([
        tickets_cancelled(
            vec![gone(2, TRAIN_B, false, 2500)],
            TicketCancelReason::TrainRemoved,
            at(10),
        ),
        refund_requested(1, 2500, TicketCancelReason::TrainRemoved, at(10)),
    ]);
    given::<Orders>(&history)
        .when(note_train_removed(TRAIN_B, &[2], 11))
        .then(&[]);
}

fn note_rescheduled(departure: TravelTime, arrival: TravelTime) -> OrderCommand {
    OrderCommand::NoteRescheduled {
        train_id: TRAIN_A,
        departure,
        arrival,
        at: at(10),
    }
}

fn rescheduled(departure: TravelTime, arrival: TravelTime) -> OrderEvent {
    OrderEvent::TrainRescheduled {
        order_id: order_id(),
        owner: OWNER,
        train_id: TRAIN_A,
        departure,
        arrival,
        rescheduled_at: at(10),
    }
}

fn later() -> (TravelTime, TravelTime) {
    (time("2024-09-25T08:00"), time("2024-09-25T20:15"))
}

#[test]
fn a_rescheduled_train_is_recorded_on_the_order() {
    let (departure, arrival) = later();
    given::<Orders>(&confirmed_one_train())
        .when(note_rescheduled(departure, arrival))
        .then(&[rescheduled(departure, arrival)]);
}

#[test]
fn hearing_of_the_same_reschedule_again_records_nothing() {
    let (departure, arrival) = later();
    let mut history = confirmed_one_train();
    history.push(rescheduled(departure, arrival));
    given::<Orders>(&history)
        .when(note_rescheduled(departure, arrival))
        .then(&[]);
}

#[test]
fn a_train_arriving_at_another_time_is_a_reschedule_too() {
    let arrival = time("2024-09-25T22:00");
    given::<Orders>(&confirmed_one_train())
        .when(note_rescheduled(super::departure(), arrival))
        .then(&[rescheduled(super::departure(), arrival)]);
}

#[test]
fn a_train_arriving_later_lets_its_tickets_go_in_full_until_it_leaves() {
    let arrival = time("2024-09-25T22:00");
    let mut history = confirmed_one_train();
    history.push(rescheduled(super::departure(), arrival));
    let when = before_departure(TimeDelta::hours(1));
    given::<Orders>(&history)
        .when(cancel_ticket(1, when))
        .then(&[
            tickets_cancelled(vec![gone(1, TRAIN_A, true, 1500)], REQUESTED, when),
            refund_requested(1, 1500, REQUESTED, when),
        ]);
}

#[test]
fn a_rescheduled_train_refunds_in_full_until_its_new_departure() {
    let (departure, arrival) = later();
    let mut history = confirmed_one_train();
    history.push(rescheduled(departure, arrival));
    // An hour before it leaves, when the policy alone would give nothing back.
    let when = departure.naive().and_utc() - TimeDelta::hours(1);
    given::<Orders>(&history).when(cancel(when)).then(&[
        tickets_cancelled(
            vec![gone(1, TRAIN_A, true, 1500), gone(2, TRAIN_A, true, 2500)],
            REQUESTED,
            when,
        ),
        refund_requested(1, TOTAL, REQUESTED, when),
    ]);
    given::<Orders>(&history)
        .when(cancel(departure.naive().and_utc()))
        .then_error(OrderError::TrainDeparted);
}
