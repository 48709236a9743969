//! The oracle of the order crash test, over the whole log read back from the store (never the
//! read models) and what the provider saw: each payment, ticket and refund counts once however
//! often the service died, and every order ends where its events say it should.
//!
//! [`Log::unsettled`] lists what is still on its way (the test waits until it is empty);
//! [`Log::violations`] lists what must never happen, at any moment.

use super::provider::Seen;
use domain::{
    DomainEvent, Order, OrderEvent, OrderState, Orders, PaymentStatus, Phase, RefundStatus,
    TicketCancelReason, TicketStatus, TrainEvent,
};
use event_store::{EventStore, Filter, PgEventStore, Position, RecordedEvent};
use std::collections::{BTreeMap, BTreeSet};

/// The token whose refunds fail for ever: its order's refunds may stay failed or pending.
const REFUNDS_FAIL: &str = "tok_refund_fails";

/// One order's stream, folded.
struct OrderLog {
    events: Vec<(Position, OrderEvent)>,
    state: Order,
}

/// The log, decoded.
pub struct Log {
    events: Vec<(RecordedEvent, DomainEvent)>,
    orders: BTreeMap<String, OrderLog>,
}

impl Log {
    pub async fn read(store: &PgEventStore) -> Self {
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .read_all(after, &Filter::all(), 5000)
                .await
                .expect("read the log");
            let Some(last) = page.last() else { break };
            after = Some(last.position);
            for event in page {
                let decoded =
                    domain::decode(&event.event_type, &event.metadata, event.data.clone())
                        .expect("every event decodes");
                events.push((event, decoded));
            }
        }
        let mut orders: BTreeMap<String, Vec<(Position, OrderEvent)>> = BTreeMap::new();
        for (recorded, event) in &events {
            if let DomainEvent::Order(event) = event {
                let id = event.order_id().to_string();
                orders
                    .entry(id)
                    .or_default()
                    .push((recorded.position, event.clone()));
            }
        }
        let orders = orders
            .into_iter()
            .filter_map(|(id, events)| {
                let state = match <Orders as domain::Decider>::fold(events.iter().map(|(_, e)| e)) {
                    OrderState::Placed(order) => order,
                    OrderState::NotPlaced => return None,
                };
                Some((id, OrderLog { events, state }))
            })
            .collect();
        Self { events, orders }
    }

    fn order_events(&self) -> impl Iterator<Item = &OrderEvent> {
        self.orders
            .values()
            .flat_map(|order| order.events.iter().map(|(_, e)| e))
    }

    fn train_events(&self) -> impl Iterator<Item = &TrainEvent> {
        self.events.iter().filter_map(|(_, e)| match e {
            DomainEvent::Train(event) => Some(event),
            _ => None,
        })
    }

    /// Each order ticket the trains booked, and how often each was booked and cancelled.
    fn tickets_on_trains(&self) -> BTreeMap<i64, (u32, u32)> {
        let mut tickets: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
        for event in self.train_events() {
            match event {
                TrainEvent::SeatBooked {
                    booking_id,
                    order_id: Some(_),
                    ..
                } => tickets.entry(booking_id.0).or_default().0 += 1,
                TrainEvent::BookingCancelled {
                    booking_id,
                    order_id: Some(_),
                    ..
                } => tickets.entry(booking_id.0).or_default().1 += 1,
                _ => {}
            }
        }
        tickets
    }

    /// What is still on its way: empty once the order process has come to rest.
    pub fn unsettled(&self, seen: &Seen) -> Vec<String> {
        let mut moving = Vec::new();
        let on_trains = self.tickets_on_trains();
        for (id, order) in &self.orders {
            let state = &order.state;
            if matches!(state.phase, Phase::AwaitingPayment | Phase::Paid) {
                moving.push(format!("order {id} is {:?}", state.phase));
            }
            let refunds_fail = state.payments.iter().any(|p| p.token.0 == REFUNDS_FAIL);
            for payment in &state.payments {
                if payment.status == PaymentStatus::Pending {
                    moving.push(format!("payment {} is pending", payment.payment_id));
                }
                if !seen.payment_asks.contains_key(payment.payment_id.as_str()) {
                    moving.push(format!("payment {} not asked yet", payment.payment_id));
                }
            }
            for refund in &state.refunds {
                let open = matches!(
                    refund.status,
                    RefundStatus::Pending | RefundStatus::Failed { .. }
                );
                if open && !refunds_fail {
                    moving.push(format!(
                        "refund {} is {:?}",
                        refund.refund_id, refund.status
                    ));
                }
                if !seen.refund_asks.contains_key(refund.refund_id.as_str()) {
                    moving.push(format!("refund {} not asked yet", refund.refund_id));
                }
            }
            for ticket in &state.tickets {
                let should =
                    state.phase == Phase::Confirmed && ticket.status == TicketStatus::Issued;
                let (booked, cancelled) = on_trains
                    .get(&ticket.ticket.ticket_id.0)
                    .copied()
                    .unwrap_or_default();
                let live = booked > cancelled;
                if live != should {
                    moving.push(format!(
                        "ticket {} of order {id} ({:?}, {:?}) is {} on its train",
                        ticket.ticket.ticket_id.0,
                        state.phase,
                        ticket.status,
                        if live { "live" } else { "not live" }
                    ));
                }
            }
        }
        // Every outcome the provider reported has reached its order.
        let decided: BTreeSet<String> = self
            .order_events()
            .filter_map(|event| match event {
                OrderEvent::PaymentSucceeded { payment_id, .. }
                | OrderEvent::PaymentFailed { payment_id, .. } => Some(payment_id.to_string()),
                OrderEvent::RefundSucceeded { refund_id, .. }
                | OrderEvent::RefundFailed { refund_id, .. } => Some(refund_id.to_string()),
                _ => None,
            })
            .collect();
        for id in seen
            .payment_outcomes
            .keys()
            .chain(seen.refund_outcomes.keys())
        {
            if !decided.contains(id) {
                moving.push(format!("the provider's outcome of {id} is not in the log"));
            }
        }
        moving
    }

    /// What must never happen, at rest or on the way.
    pub fn violations(&self, seen: &Seen) -> Vec<String> {
        let mut wrong = Vec::new();
        self.payments_once(seen, &mut wrong);
        self.refunds_once(seen, &mut wrong);
        self.tickets_once(&mut wrong);
        self.seats_once(&mut wrong);
        self.refunds_have_reasons(&mut wrong);
        self.causes_once(&mut wrong);
        self.answers_once(&mut wrong);
        wrong.extend(
            seen.refused_asks
                .iter()
                .map(|a| format!("provider refused {a}")),
        );
        wrong.extend(
            seen.refused_webhooks
                .iter()
                .map(|w| format!("service refused a webhook: {w}")),
        );
        wrong
    }

    /// Per payment id: one request, at most one outcome, and that outcome the one the provider
    /// reported; the provider charged each at most once and was asked only for payments the
    /// log requested.
    fn payments_once(&self, seen: &Seen, wrong: &mut Vec<String>) {
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
    fn refunds_once(&self, seen: &Seen, wrong: &mut Vec<String>) {
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
    fn tickets_once(&self, wrong: &mut Vec<String>) {
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
    fn seats_once(&self, wrong: &mut Vec<String>) {
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
    fn refunds_have_reasons(&self, wrong: &mut Vec<String>) {
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
    fn answers_once(&self, wrong: &mut Vec<String>) {
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
    fn causes_once(&self, wrong: &mut Vec<String>) {
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

    /// The figures of the run, one per line.
    pub fn figures(&self, seen: &Seen) -> String {
        let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
        let (mut payments, mut paid, mut declined) = (0, 0, 0);
        let (mut refunds, mut refunded, mut refund_failures) = (0, 0, 0);
        for order in self.orders.values() {
            *statuses.entry(order.state.status().as_str()).or_default() += 1;
            for payment in &order.state.payments {
                payments += 1;
                match payment.status {
                    PaymentStatus::Succeeded => paid += 1,
                    PaymentStatus::Failed => declined += 1,
                    PaymentStatus::Pending => {}
                }
            }
            for (_, event) in &order.events {
                match event {
                    OrderEvent::RefundRequested { .. } => refunds += 1,
                    OrderEvent::RefundSucceeded { .. } => refunded += 1,
                    OrderEvent::RefundFailed { .. } => refund_failures += 1,
                    _ => {}
                }
            }
        }
        let tickets = self.tickets_on_trains();
        let live = tickets.values().filter(|(b, c)| b > c).count();
        let cancelled: u32 = tickets.values().map(|(_, c)| c).sum();
        let asks = |asks: &BTreeMap<String, u32>| {
            let total: u32 = asks.values().sum();
            let repeated = asks.values().filter(|n| **n > 1).count();
            format!(
                "{total} requests for {} ids ({repeated} asked more than once)",
                asks.len()
            )
        };
        [
            format!("events in the log: {}", self.events.len()),
            format!("orders: {} {statuses:?}", self.orders.len()),
            format!("payments: {payments} requested, {paid} succeeded, {declined} failed"),
            format!("tickets issued: {}, live at the end: {live}, cancelled on their trains: {cancelled}", tickets.len()),
            format!("refunds: {refunds} requested, {refunded} succeeded, {refund_failures} failed"),
            format!("provider, payments: {}", asks(&seen.payment_asks)),
            format!("provider, refunds: {}", asks(&seen.refund_asks)),
            format!(
                "webhooks: {} delivered, {} attempts found no service",
                seen.delivered, seen.missed
            ),
        ]
        .join("\n")
    }

    /// For each kill (the log's head when the process was dead), which two consecutive steps
    /// of each order it fell between. With `trains`, the trains' answers count as steps too
    /// (as `train:<event>`); without, only the order's own events do (its warnings and
    /// reschedulings aside). A kill counts once per pair, however many orders stood there.
    pub fn kill_table(
        &self,
        kills: &[Position],
        trains: bool,
    ) -> BTreeMap<(String, String), usize> {
        let mut steps: BTreeMap<String, Vec<(Position, String)>> = BTreeMap::new();
        for (recorded, event) in &self.events {
            let (order, step) = match event {
                DomainEvent::Order(
                    OrderEvent::ExpiryWarned { .. } | OrderEvent::TrainRescheduled { .. },
                ) => continue,
                DomainEvent::Order(event) => {
                    (event.order_id().to_string(), recorded.event_type.clone())
                }
                DomainEvent::Train(event) if trains => match train_step(event) {
                    Some(order) => (order, format!("train:{}", recorded.event_type)),
                    None => continue,
                },
                _ => continue,
            };
            let order = steps.entry(order).or_default();
            // One train's answer to several tickets is one step.
            if order.last().is_none_or(|(_, last)| *last != step) {
                order.push((recorded.position, step));
            }
        }
        let mut table: BTreeMap<(String, String), usize> = BTreeMap::new();
        for head in kills {
            let mut pairs = BTreeSet::new();
            for order in steps.values() {
                let next = order.partition_point(|(at, _)| at <= head);
                if next > 0 && next < order.len() {
                    pairs.insert((order[next - 1].1.clone(), order[next].1.clone()));
                }
            }
            for pair in pairs {
                *table.entry(pair).or_default() += 1;
            }
        }
        table
    }
}

/// The order a train event answers, for the train events that are steps of an order.
fn train_step(event: &TrainEvent) -> Option<String> {
    match event {
        TrainEvent::HoldExtended { order_id, .. }
        | TrainEvent::HoldExtensionRefused { order_id, .. }
        | TrainEvent::OrderTicketsBooked { order_id, .. }
        | TrainEvent::TicketsRefused { order_id, .. }
        | TrainEvent::BookingCancelled {
            order_id: Some(order_id),
            ..
        } => Some(order_id.to_string()),
        _ => None,
    }
}
