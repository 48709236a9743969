//! The oracle of the order crash test, over the whole log read back from the store (never the
//! read models) and what the provider saw: each payment, ticket and refund counts once however
//! often the service died, and every order ends where its events say it should.
//!
//! [`Log::unsettled`] lists what is still on its way (the test waits until it is empty);
//! [`Log::violations`] lists what must never happen, at any moment.

mod once;

use super::provider::Seen;
use chrono::{DateTime, Utc};
use domain::{
    DomainEvent, Order, OrderEvent, OrderState, Orders, PaymentStatus, Phase, RefundStatus,
    TicketStatus, TrainEvent,
};
use event_store::{PgEventStore, Position, RecordedEvent};
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
            let page = super::page(store, after, 5000).await;
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

    /// For each kill (when the process was dead), which two consecutive steps of each order it
    /// fell between, by when each step's transaction began. With `trains`, the trains' answers
    /// count as steps too (as `train:<event>`); without, only the order's own events do (its
    /// warnings and reschedulings aside). A kill counts once per pair, however many orders
    /// stood there.
    pub fn kill_table(
        &self,
        kills: &[DateTime<Utc>],
        trains: bool,
    ) -> BTreeMap<(String, String), usize> {
        let mut steps: BTreeMap<String, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
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
                order.push((recorded.recorded_at, step));
            }
        }
        let mut table: BTreeMap<(String, String), usize> = BTreeMap::new();
        for killed in kills {
            let mut pairs = BTreeSet::new();
            for order in steps.values() {
                let next = order.partition_point(|(at, _)| at < killed);
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
