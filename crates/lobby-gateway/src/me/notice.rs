//! What an order's owner is told of it: the few steps that change what they must do or may
//! expect, each at most one message. Ids, amounts, seats and times only: never a passenger's
//! name, a payment token or method, or anything of another user.

use crate::feed::Outgoing;
use chrono::{DateTime, Utc};
use domain::{
    BookingId, Currency, OrderEvent, OrderId, PaymentId, RefundId, SeatClass, SeatId,
    TicketCancelReason, TrainId, TravelTime,
};
use event_store::Position;
use serde::Serialize;

/// A message on `/ws/me`, as JSON with a `type`. Every one but the welcome names its order and
/// the log position it was made of.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Notice {
    Welcome {
        /// The last log position this socket is up to date with; reconnect with `?after=` it.
        position: Option<String>,
    },
    /// A payment is asked of the provider; the order waits for its outcome.
    PaymentPending {
        order_id: OrderId,
        position: String,
        payment_id: PaymentId,
        amount: i64,
        currency: Currency,
    },
    /// The provider declined the payment; the order may be paid again until `pay_by`.
    PaymentFailed {
        order_id: OrderId,
        position: String,
        payment_id: PaymentId,
    },
    /// Every ticket is issued.
    OrderConfirmed {
        order_id: OrderId,
        position: String,
        tickets: Vec<TicketNotice>,
    },
    /// `pay_by` is near.
    HoldExpiring {
        order_id: OrderId,
        position: String,
        pay_by: DateTime<Utc>,
    },
    OrderExpired {
        order_id: OrderId,
        position: String,
    },
    /// The provider paid money back.
    RefundIssued {
        order_id: OrderId,
        position: String,
        refund_id: RefundId,
        amount: i64,
        currency: Currency,
    },
    /// Tickets were given up without the owner asking, and their money goes back.
    OrderRefunded {
        order_id: OrderId,
        position: String,
        /// `train_removed`, `not_issued` or `order_ended`.
        reason: &'static str,
        amount: i64,
        currency: Currency,
    },
    /// A train of the order leaves or arrives at another time.
    TrainRescheduled {
        order_id: OrderId,
        position: String,
        train_id: TrainId,
        departure: TravelTime,
        arrival: TravelTime,
    },
}

/// A ticket of a confirmed order, without its passenger.
#[derive(Debug, Serialize)]
pub(crate) struct TicketNotice {
    ticket_id: BookingId,
    train_id: TrainId,
    seat: SeatId,
    class: SeatClass,
    /// In minor units of the order's currency.
    amount: i64,
}

/// The message an order event at `at` becomes for its owner, if any.
pub(crate) fn notice(event: &OrderEvent, at: Position) -> Option<Outgoing> {
    let order_id = event.order_id().clone();
    let position = at.to_string();
    let notice = match event {
        OrderEvent::PaymentRequested {
            payment_id, amount, ..
        } => Notice::PaymentPending {
            order_id,
            position,
            payment_id: payment_id.clone(),
            amount: amount.amount,
            currency: amount.currency.clone(),
        },
        OrderEvent::PaymentFailed { payment_id, .. } => Notice::PaymentFailed {
            order_id,
            position,
            payment_id: payment_id.clone(),
        },
        OrderEvent::OrderConfirmed { tickets, .. } => Notice::OrderConfirmed {
            order_id,
            position,
            tickets: tickets
                .iter()
                .map(|ticket| TicketNotice {
                    ticket_id: ticket.ticket_id,
                    train_id: ticket.train_id,
                    seat: ticket.seat.clone(),
                    class: ticket.class,
                    amount: ticket.amount,
                })
                .collect(),
        },
        OrderEvent::ExpiryWarned { pay_by, .. } => Notice::HoldExpiring {
            order_id,
            position,
            pay_by: *pay_by,
        },
        OrderEvent::OrderExpired { .. } => Notice::OrderExpired { order_id, position },
        OrderEvent::RefundSucceeded {
            refund_id, amount, ..
        } => Notice::RefundIssued {
            order_id,
            position,
            refund_id: refund_id.clone(),
            amount: amount.amount,
            currency: amount.currency.clone(),
        },
        OrderEvent::RefundRequested {
            amount,
            reason,
            retry_of: None,
            ..
        } => Notice::OrderRefunded {
            order_id,
            position,
            reason: match reason {
                // The owner asked, and was answered then; `refund_issued` says when the money
                // moves.
                TicketCancelReason::Requested => return None,
                TicketCancelReason::TrainRemoved => "train_removed",
                TicketCancelReason::NotIssued => "not_issued",
                TicketCancelReason::OrderEnded => "order_ended",
            },
            amount: amount.amount,
            currency: amount.currency.clone(),
        },
        OrderEvent::TrainRescheduled {
            train_id,
            departure,
            arrival,
            ..
        } => Notice::TrainRescheduled {
            order_id,
            position,
            train_id: *train_id,
            departure: *departure,
            arrival: *arrival,
        },
        // Steps the owner took themselves (placing, cancelling), that lead to a message above
        // (paid, issued, tickets given up), or that repeat one (a retried refund, a failed
        // refund that will be retried).
        OrderEvent::RefundRequested {
            retry_of: Some(_), ..
        }
        | OrderEvent::OrderPlaced { .. }
        | OrderEvent::OrderCancelled { .. }
        | OrderEvent::PaymentSucceeded { .. }
        | OrderEvent::TicketsIssued { .. }
        | OrderEvent::IssueFailed { .. }
        | OrderEvent::TicketsCancelled { .. }
        | OrderEvent::RefundFailed { .. } => return None,
    };
    Some(Outgoing::logged(&notice, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::{HoldId, Money, PaymentToken, Ticket, Traveller, UserId};
    use serde_json::{Value, json};

    fn order() -> OrderId {
        OrderId::parse("o-1").expect("an order id")
    }

    fn eur(amount: i64) -> Money {
        Money {
            amount,
            currency: Currency::eur(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2099, 9, 1, 12, 0, 0)
            .single()
            .expect("a time")
    }

    fn time(raw: &str) -> TravelTime {
        TravelTime::parse(raw).expect("a travel time")
    }

    fn ticket() -> Ticket {
        Ticket {
            ticket_id: BookingId(41),
            train_id: TrainId(7),
            hold_id: HoldId::parse("h-1").expect("a hold id"),
            seat: SeatId::parse("2-14").expect("a seat"),
            class: SeatClass::First,
            amount: 4_500,
            passenger: Traveller::Named("Ann Passenger".into()),
            departure: time("2099-09-25T06:30"),
        }
    }

    fn refund(reason: TicketCancelReason, retry_of: Option<RefundId>) -> OrderEvent {
        OrderEvent::RefundRequested {
            order_id: order(),
            owner: UserId(1),
            refund_id: RefundId::new(&order(), 2),
            payment_id: PaymentId::new(&order(), 1),
            amount: eur(4_500),
            reason,
            retry_of,
            requested_at: at(),
        }
    }

    /// The JSON `event` becomes at position 12.3, or `Null` for none.
    fn told(event: &OrderEvent) -> Value {
        let at = "12.3".parse().expect("a position");
        notice(event, at).map_or(Value::Null, |outgoing| {
            assert_eq!(outgoing.position, Some(at));
            serde_json::from_str(&outgoing.text).expect("JSON")
        })
    }

    #[test]
    fn a_payment_asked_for_is_pending_without_its_token_or_method() {
        let event = OrderEvent::PaymentRequested {
            order_id: order(),
            owner: UserId(1),
            payment_id: PaymentId::new(&order(), 1),
            amount: eur(9_000),
            method: "card".into(),
            token: PaymentToken("tok_secret".into()),
            requested_at: at(),
        };
        assert_eq!(
            told(&event),
            json!({"type": "payment_pending", "order_id": "o-1", "position": "12.3",
                "payment_id": "pay_1_o-1", "amount": 9000, "currency": "EUR"})
        );
    }

    #[test]
    fn a_confirmed_order_lists_its_tickets_without_their_passengers() {
        let event = OrderEvent::OrderConfirmed {
            order_id: order(),
            owner: UserId(1),
            tickets: vec![ticket()],
            confirmed_at: at(),
        };
        assert_eq!(
            told(&event),
            json!({"type": "order_confirmed", "order_id": "o-1", "position": "12.3",
                "tickets": [{"ticket_id": 41, "train_id": 7, "seat": "2-14", "class": "first",
                    "amount": 4500}]})
        );
    }

    #[test]
    fn a_refund_the_owner_did_not_ask_for_tells_why() {
        for (reason, said) in [
            (TicketCancelReason::TrainRemoved, "train_removed"),
            (TicketCancelReason::NotIssued, "not_issued"),
            (TicketCancelReason::OrderEnded, "order_ended"),
        ] {
            assert_eq!(
                told(&refund(reason, None)),
                json!({"type": "order_refunded", "order_id": "o-1", "position": "12.3",
                    "reason": said, "amount": 4500, "currency": "EUR"})
            );
        }
    }

    #[test]
    fn an_asked_for_or_retried_refund_says_nothing() {
        let retry = Some(RefundId::new(&order(), 1));
        assert_eq!(
            told(&refund(TicketCancelReason::Requested, None)),
            Value::Null
        );
        assert_eq!(
            told(&refund(TicketCancelReason::TrainRemoved, retry)),
            Value::Null
        );
    }

    #[test]
    fn the_owners_own_steps_and_the_ones_between_say_nothing() {
        let placed = OrderEvent::OrderPlaced {
            order_id: order(),
            owner: UserId(1),
            tickets: vec![ticket()],
            total: eur(4_500),
            pay_by: at(),
            placed_at: at(),
        };
        let issued = OrderEvent::TicketsIssued {
            order_id: order(),
            owner: UserId(1),
            train_id: TrainId(7),
            hold_id: HoldId::parse("h-1").expect("a hold id"),
            ticket_ids: vec![BookingId(41)],
            issued_at: at(),
        };
        assert_eq!(told(&placed), Value::Null);
        assert_eq!(told(&issued), Value::Null);
    }
}
