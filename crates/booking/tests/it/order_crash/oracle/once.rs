//! The safety half of the oracle: what must never happen, at rest or on the way, each rule a
//! function of its own over the decoded log (and what the provider saw).

use super::Log;
use crate::order_crash::provider::Seen;
use domain::{
    DomainEvent, OrderEvent, PaymentStatus, TicketCancelReason, TicketStatus, TrainEvent,
};
use std::collections::BTreeMap;

impl Log {
    /// Per payment id: one request, at most one outcome, and that outcome the one the provider
    /// reported; the provider charged each at most once and was asked only for payments the
    /// log requested.
    pub(super) fn payments_once(&self, seen: &Seen, wrong: &mut Vec<String>) {
        let mut requested: BTreeMap<String, u32> = BTreeMap::new();
        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        for event in self.order_events() {
            match event {
                OrderEvent::PaymentRequested { payment_id, .. } => {
                    *requested.entry(payment_id.to_string()).or_default() += 1;
                }
                OrderEvent::PaymentSucceeded {
                    payment_id,
                    provider_event_id,
                    ..
                } => {
                    *outcomes.entry(payment_id.to_string()).or_default() += 1;
                    let reported = seen
                        .payment_outcomes
                        .get(payment_id.as_str())
                        .is_some_and(|ids| ids.contains(provider_event_id));
                    if !reported {
                        wrong.push(format!(
                            "payment {payment_id} succeeded on an event the provider never sent"
                        ));
                    }
                }
                OrderEvent::PaymentFailed { payment_id, .. } => {
                    *outcomes.entry(payment_id.to_string()).or_default() += 1;
                }
                _ => {}
            }
        }
        for (id, n) in &requested {
            if *n != 1 {
                wrong.push(format!("payment {id} requested {n} times"));
            }
        }
        for (id, n) in &outcomes {
            if *n > 1 {
                wrong.push(format!("payment {id} has {n} outcomes"));
            }
            if !requested.contains_key(id) {
                wrong.push(format!("payment {id} has an outcome but no request"));
            }
        }
        for (id, events) in &seen.payment_outcomes {
            if events.len() > 1 {
                wrong.push(format!(
                    "the provider settled payment {id} {} times",
                    events.len()
                ));
            }
        }
        for id in seen.payment_asks.keys() {
            if !requested.contains_key(id) {
                wrong.push(format!(
                    "the provider was asked for {id}, which no order requested"
                ));
            }
        }
    }

    /// Per refund id: at most one request, at most one success and one failure; what came
    /// back of a payment never exceeds it; the provider paid each refund at most once.
    pub(super) fn refunds_once(&self, seen: &Seen, wrong: &mut Vec<String>) {
        for (id, order) in &self.orders {
            let mut counts: BTreeMap<String, [u32; 3]> = BTreeMap::new();
            for (_, event) in &order.events {
                let (refund_id, slot) = match event {
                    OrderEvent::RefundRequested { refund_id, .. } => (refund_id, 0),
                    OrderEvent::RefundSucceeded { refund_id, .. } => (refund_id, 1),
                    OrderEvent::RefundFailed { refund_id, .. } => (refund_id, 2),
                    _ => continue,
                };
                counts.entry(refund_id.to_string()).or_default()[slot] += 1;
            }
            for (refund, [requested, succeeded, failed]) in counts {
                if requested != 1 || succeeded > 1 || failed > 1 {
                    wrong.push(format!(
                        "refund {refund} of order {id}: requested {requested}, succeeded {succeeded}, failed {failed}"
                    ));
                }
            }
            for payment in &order.state.payments {
                if payment.refunded > payment.amount.amount {
                    wrong.push(format!(
                        "payment {} refunded {} of {}",
                        payment.payment_id, payment.refunded, payment.amount.amount
                    ));
                }
                if payment.refunded > 0 && payment.status != PaymentStatus::Succeeded {
                    wrong.push(format!("payment {} refunded unpaid", payment.payment_id));
                }
            }
        }
        for (id, events) in &seen.refund_outcomes {
            if events.len() > 1 {
                wrong.push(format!(
                    "the provider settled refund {id} {} times",
                    events.len()
                ));
            }
        }
    }

    /// Each ticket is one order's, booked at most once and cancelled at most once, on its
    /// own train and seat; at rest a ticket is live exactly when its order ended confirmed and
    /// it was not cancelled (checked by [`Self::unsettled`]); an order confirms once.
    pub(super) fn tickets_once(&self, wrong: &mut Vec<String>) {
        let mut owners: BTreeMap<i64, (String, i64, String)> = BTreeMap::new();
        for (id, order) in &self.orders {
            for ticket in &order.state.tickets {
                let t = &ticket.ticket;
                let mine = (id.clone(), t.train_id.0, t.seat.to_string());
                if owners.insert(t.ticket_id.0, mine).is_some() {
                    wrong.push(format!("ticket {} is in two orders", t.ticket_id.0));
                }
            }
            let confirmed = order
                .events
                .iter()
                .filter(|(_, e)| matches!(e, OrderEvent::OrderConfirmed { .. }))
                .count();
            if confirmed > 1 {
                wrong.push(format!("order {id} confirmed {confirmed} times"));
            }
        }
        for (ticket, (booked, cancelled)) in self.tickets_on_trains() {
            if booked > 1 || cancelled > 1 || cancelled > booked {
                wrong.push(format!(
                    "ticket {ticket} booked {booked} and cancelled {cancelled} times"
                ));
            }
        }
        for event in self.train_events() {
            if let TrainEvent::SeatBooked {
                train_id,
                booking_id,
                seat,
                order_id: Some(order_id),
                ..
            } = event
            {
                let seat = seat.as_ref().map(ToString::to_string).unwrap_or_default();
                let expected = (order_id.to_string(), train_id.0, seat);
                if owners.get(&booking_id.0) != Some(&expected) {
                    wrong.push(format!(
                        "ticket {} booked as {expected:?}, not as its order has it",
                        booking_id.0
                    ));
                }
            }
        }
    }

    /// No seat of a train is booked twice while live, tickets and plain bookings alike.
    pub(super) fn seats_once(&self, wrong: &mut Vec<String>) {
        let mut live: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let mut seat_of: BTreeMap<i64, (i64, String)> = BTreeMap::new();
        for event in self.train_events() {
            match event {
                TrainEvent::SeatBooked {
                    train_id,
                    booking_id,
                    seat: Some(seat),
                    ..
                } => {
                    let key = (train_id.0, seat.to_string());
                    if let Some(other) = live.insert(key.clone(), booking_id.0) {
                        wrong.push(format!(
                            "seat {key:?} booked by {} while {other} held it",
                            booking_id.0
                        ));
                    }
                    seat_of.insert(booking_id.0, key);
                }
                TrainEvent::BookingCancelled { booking_id, .. } => {
                    if let Some(key) = seat_of.remove(&booking_id.0) {
                        live.remove(&key);
                    }
                }
                _ => {}
            }
        }
    }

    /// Every refund answers a cancellation: per reason, the money asked back (retries aside)
    /// is what the order's cancelled tickets were to get, or the whole of a payment that came
    /// after the order had ended. No order is confirmed and refunded in full with a ticket
    /// still standing.
    pub(super) fn refunds_have_reasons(&self, wrong: &mut Vec<String>) {
        for (id, order) in &self.orders {
            let mut owed: BTreeMap<String, i64> = BTreeMap::new();
            let mut asked: BTreeMap<String, i64> = BTreeMap::new();
            let mut ended_payments: BTreeMap<String, i64> = BTreeMap::new();
            for (_, event) in &order.events {
                match event {
                    OrderEvent::TicketsCancelled {
                        tickets, reason, ..
                    } => {
                        let sum: i64 = tickets.iter().map(|t| t.refund).sum();
                        *owed.entry(format!("{reason:?}")).or_default() += sum;
                    }
                    OrderEvent::PaymentSucceeded {
                        payment_id,
                        amount,
                        tickets,
                        ..
                    } if tickets.is_empty() => {
                        ended_payments.insert(payment_id.to_string(), amount.amount);
                    }
                    OrderEvent::RefundRequested {
                        payment_id,
                        amount,
                        reason,
                        retry_of: None,
                        ..
                    } => {
                        if *reason == TicketCancelReason::OrderEnded {
                            if ended_payments.get(payment_id.as_str()) != Some(&amount.amount) {
                                wrong.push(format!(
                                    "order {id} refunds {payment_id} as ended, but it was not paid after its end"
                                ));
                            }
                        } else {
                            *asked.entry(format!("{reason:?}")).or_default() += amount.amount;
                        }
                    }
                    _ => {}
                }
            }
            if owed != asked {
                wrong.push(format!(
                    "order {id}: cancelled tickets were owed {owed:?}, refunds asked {asked:?}"
                ));
            }
            let state = &order.state;
            let confirmed = order
                .events
                .iter()
                .any(|(_, e)| matches!(e, OrderEvent::OrderConfirmed { .. }));
            let refunded_in_full = state.paid().is_some_and(|p| p.refunded >= p.amount.amount);
            let standing = state
                .tickets
                .iter()
                .any(|t| t.status != TicketStatus::Cancelled);
            if confirmed && refunded_in_full && standing {
                wrong.push(format!(
                    "order {id} is refunded in full with a ticket standing"
                ));
            }
        }
    }

    /// Each hold of an order is answered once by its train when the order is placed (kept or
    /// refused) and once when it is paid for (booked or refused), and the order notes each
    /// train's issue once: a repeated step shows here even when its command carried no cause.
    pub(super) fn answers_once(&self, wrong: &mut Vec<String>) {
        let mut answers: BTreeMap<(String, String, &str), u32> = BTreeMap::new();
        for (_, event) in &self.events {
            let (order_id, hold_id, step) = match event {
                DomainEvent::Train(
                    TrainEvent::HoldExtended {
                        order_id, hold_id, ..
                    }
                    | TrainEvent::HoldExtensionRefused {
                        order_id, hold_id, ..
                    },
                ) => (order_id, hold_id, "kept or refused"),
                DomainEvent::Train(
                    TrainEvent::OrderTicketsBooked {
                        order_id, hold_id, ..
                    }
                    | TrainEvent::TicketsRefused {
                        order_id, hold_id, ..
                    },
                ) => (order_id, hold_id, "issued or refused"),
                DomainEvent::Order(
                    OrderEvent::TicketsIssued {
                        order_id, hold_id, ..
                    }
                    | OrderEvent::IssueFailed {
                        order_id, hold_id, ..
                    },
                ) => (order_id, hold_id, "noted by the order"),
                _ => continue,
            };
            let key = (order_id.to_string(), hold_id.to_string(), step);
            *answers.entry(key).or_default() += 1;
        }
        for ((order, hold, step), n) in answers {
            if n > 1 {
                wrong.push(format!("hold {hold} of order {order} {step} {n} times"));
            }
        }
    }

    /// Events a cause recorded stand together, in one append: a cause that appears in two
    /// places of a stream was decided twice.
    pub(super) fn causes_once(&self, wrong: &mut Vec<String>) {
        let mut runs: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
        for (recorded, _) in &self.events {
            if let Some(cause) = recorded.metadata["causation_id"].as_str() {
                runs.entry((recorded.stream.as_str(), cause))
                    .or_default()
                    .push(recorded.revision);
            }
        }
        for ((stream, cause), revisions) in runs {
            let (first, last) = (revisions[0], revisions[revisions.len() - 1]);
            if last - first + 1 != revisions.len() as u64 {
                wrong.push(format!(
                    "cause {cause} recorded twice in {stream}, at revisions {revisions:?}"
                ));
            }
        }
    }
}
