//! Expiry: an unpaid order is warned once shortly before `pay_by`, and ends at `pay_by`. Both
//! are asked by a timer, as often as it likes: each is decided from the command's time.

use super::{OWNER, TRAIN_A, expired, one_train, order_cancelled, order_id, paid, placed};
use crate::{at, given};
use chrono::TimeDelta;
use domain::{OrderCancelReason, OrderCommand, OrderEvent, Orders};

fn warn(minute: u32) -> OrderCommand {
    OrderCommand::WarnExpiry {
        warning: TimeDelta::minutes(5),
        at: at(minute),
    }
}

fn warned(minute: u32) -> OrderEvent {
    OrderEvent::ExpiryWarned {
        order_id: order_id(),
        owner: OWNER,
        pay_by: at(30),
        warned_at: at(minute),
    }
}

fn expire(minute: u32) -> OrderCommand {
    OrderCommand::Expire { at: at(minute) }
}

#[test]
fn an_unpaid_order_is_warned_once_its_due_time_is_within_the_warning() {
    given::<Orders>(&[placed(one_train())])
        .when(warn(25))
        .then(&[warned(25)]);
    given::<Orders>(&[placed(one_train())])
        .when(warn(29))
        .then(&[warned(29)]);
}

#[test]
fn no_warning_comes_before_the_window_or_once_the_order_is_due() {
    given::<Orders>(&[placed(one_train())])
        .when(warn(24))
        .then(&[]);
    given::<Orders>(&[placed(one_train())])
        .when(warn(30))
        .then(&[]);
}

#[test]
fn an_order_is_warned_only_once() {
    given::<Orders>(&[placed(one_train()), warned(25)])
        .when(warn(27))
        .then(&[]);
}

#[test]
fn a_paid_order_is_not_warned() {
    given::<Orders>(&paid(one_train())).when(warn(26)).then(&[]);
}

#[test]
fn an_unpaid_order_expires_at_its_due_time_and_not_before() {
    given::<Orders>(&[placed(one_train())])
        .when(expire(29))
        .then(&[]);
    given::<Orders>(&[placed(one_train())])
        .when(expire(30))
        .then(&[expired(30)]);
    given::<Orders>(&[placed(one_train())])
        .when(expire(45))
        .then(&[expired(45)]);
}

#[test]
fn only_an_order_awaiting_payment_expires() {
    given::<Orders>(&paid(one_train()))
        .when(expire(31))
        .then(&[]);
    given::<Orders>(&[placed(one_train()), expired(30)])
        .when(expire(31))
        .then(&[]);
    given::<Orders>(&[
        placed(one_train()),
        order_cancelled(OrderCancelReason::Requested, &[(TRAIN_A, 1)], 5),
    ])
    .when(expire(31))
    .then(&[]);
}
