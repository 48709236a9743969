//! Issuing: after payment each train turns its hold into bookings. The order is confirmed when
//! the last train has issued; if one train cannot, every ticket is given up and the whole
//! payment refunded (all or nothing), even tickets another train issues late.

use super::{
    TOTAL, TRAIN_A, TRAIN_B, confirmed, gone, note_issued, one_train, order_cancelled, order_id,
    paid, placed, refund_requested, tickets_cancelled, tickets_issued, two_trains,
};
use crate::{at, given};
use domain::{OrderCancelReason, OrderCommand, OrderEvent, Orders, TicketCancelReason, TrainId};

fn reject_hold(n: u8, minute: u32) -> OrderCommand {
    OrderCommand::RejectHold {
        hold_id: super::hold(n),
        at: at(minute),
    }
}

fn note_issue_failed(train: TrainId, hold_n: u8, minute: u32) -> OrderCommand {
    OrderCommand::NoteIssueFailed {
        train_id: train,
        hold_id: super::hold(hold_n),
        at: at(minute),
    }
}

fn issue_failed(train: TrainId, hold_n: u8, minute: u32) -> OrderEvent {
    OrderEvent::IssueFailed {
        order_id: order_id(),
        owner: super::OWNER,
        train_id: train,
        hold_id: super::hold(hold_n),
        failed_at: at(minute),
    }
}

// Holds lost before payment.

#[test]
fn a_hold_lost_before_payment_cancels_the_order_and_lists_every_hold_to_let_go() {
    given::<Orders>(&[placed(two_trains())])
        .when(reject_hold(2, 1))
        .then(&[order_cancelled(
            OrderCancelReason::HoldLost,
            &[(TRAIN_A, 1), (TRAIN_B, 2)],
            1,
        )]);
}

#[test]
fn a_hold_refused_once_the_order_is_paid_changes_nothing() {
    given::<Orders>(&paid(one_train()))
        .when(reject_hold(1, 3))
        .then(&[]);
}

// Issuing after payment.

#[test]
fn a_one_train_order_is_confirmed_when_its_train_issues() {
    given::<Orders>(&paid(one_train()))
        .when(note_issued(TRAIN_A, 1, &[1, 2], 3))
        .then(&[
            tickets_issued(TRAIN_A, 1, &[1, 2], 3),
            confirmed(one_train(), 3),
        ]);
}

#[test]
fn a_two_train_order_is_not_confirmed_by_its_first_train() {
    given::<Orders>(&paid(two_trains()))
        .when(note_issued(TRAIN_B, 2, &[2], 3))
        .then(&[tickets_issued(TRAIN_B, 2, &[2], 3)]);
}

#[test]
fn a_two_train_order_is_confirmed_when_its_last_train_issues() {
    let mut history = paid(two_trains());
    history.push(tickets_issued(TRAIN_B, 2, &[2], 3));
    given::<Orders>(&history)
        .when(note_issued(TRAIN_A, 1, &[1], 4))
        .then(&[
            tickets_issued(TRAIN_A, 1, &[1], 4),
            confirmed(two_trains(), 4),
        ]);
}

#[test]
fn a_train_issuing_again_records_nothing() {
    let mut history = paid(two_trains());
    history.push(tickets_issued(TRAIN_A, 1, &[1], 3));
    given::<Orders>(&history)
        .when(note_issued(TRAIN_A, 1, &[1], 4))
        .then(&[]);
    history.extend([
        tickets_issued(TRAIN_B, 2, &[2], 4),
        confirmed(two_trains(), 4),
    ]);
    given::<Orders>(&history)
        .when(note_issued(TRAIN_B, 2, &[2], 5))
        .then(&[]);
}

// A train that cannot issue.

#[test]
fn a_train_failing_after_another_issued_gives_every_ticket_up_and_refunds_the_total() {
    let mut history = paid(two_trains());
    history.push(tickets_issued(TRAIN_A, 1, &[1], 3));
    given::<Orders>(&history)
        .when(note_issue_failed(TRAIN_B, 2, 4))
        .then(&[
            issue_failed(TRAIN_B, 2, 4),
            tickets_cancelled(
                // Train A holds ticket 1's booking and must give it back; B never booked 2.
                vec![gone(1, TRAIN_A, true, 1500), gone(2, TRAIN_B, false, 2500)],
                TicketCancelReason::NotIssued,
                at(4),
            ),
            refund_requested(1, TOTAL, TicketCancelReason::NotIssued, at(4)),
        ]);
}

/// The two-train order paid, train B failing at `at(3)` before train A issued.
fn unwound_by_train_b() -> Vec<OrderEvent> {
    let mut history = paid(two_trains());
    history.extend([
        issue_failed(TRAIN_B, 2, 3),
        tickets_cancelled(
            vec![gone(1, TRAIN_A, false, 1500), gone(2, TRAIN_B, false, 2500)],
            TicketCancelReason::NotIssued,
            at(3),
        ),
        refund_requested(1, TOTAL, TicketCancelReason::NotIssued, at(3)),
    ]);
    history
}

#[test]
fn a_train_issuing_after_another_failed_gives_its_tickets_back_with_nothing_more_to_refund() {
    given::<Orders>(&unwound_by_train_b())
        .when(note_issued(TRAIN_A, 1, &[1], 4))
        .then(&[
            tickets_issued(TRAIN_A, 1, &[1], 4),
            tickets_cancelled(
                vec![gone(1, TRAIN_A, true, 0)],
                TicketCancelReason::NotIssued,
                at(4),
            ),
        ]);
}

#[test]
fn a_second_train_failing_after_the_unwinding_refunds_nothing_more() {
    let mut history = unwound_by_train_b();
    given::<Orders>(&history)
        .when(note_issue_failed(TRAIN_A, 1, 4))
        .then(&[issue_failed(TRAIN_A, 1, 4)]);
    history.push(issue_failed(TRAIN_A, 1, 4));
    given::<Orders>(&history)
        .when(note_issue_failed(TRAIN_A, 1, 5))
        .then(&[]);
}
