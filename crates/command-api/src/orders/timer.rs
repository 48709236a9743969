//! The order timer: warns an owner before `pay_by`, expires an order at `pay_by`, and tries a
//! failed refund again when its backoff is over.
//!
//! Each command API runs one, with no leader: every command it issues records nothing when
//! there is nothing to do (the order decides from its own state and the command's time), so
//! two timers, or a repeat after a crash, are harmless.

use crate::AppState;
use chrono::{DateTime, Utc};
use commands::{CommandError, Origin};
use domain::{OrderCommand, OrderId};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most orders handled per tick.
const BATCH: i64 = 200;

#[derive(sqlx::FromRow)]
struct Due {
    order_id: String,
    status: String,
    pay_by: DateTime<Utc>,
    warned: bool,
    retry_at: Option<DateTime<Utc>>,
}

pub(crate) async fn run(state: AppState, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "the order timer could not look for due orders");
        }
    }
}

async fn sweep(state: &AppState) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let warning = state.hold_warning();
    let due: Vec<Due> = sqlx::query_as(
        "SELECT order_id, status, pay_by, warned, retry_at FROM read_models.orders
         WHERE (status = 'awaiting_payment' AND (pay_by <= $1 OR (NOT warned AND pay_by <= $2)))
            OR retry_at <= $1
         ORDER BY updated_at LIMIT $3",
    )
    .bind(now)
    .bind(now + warning)
    .bind(BATCH)
    .fetch_all(state.pool())
    .await?;
    for order in due {
        let Ok(order_id) = OrderId::parse(&order.order_id) else {
            continue;
        };
        let mut commands = Vec::new();
        if order.status == "awaiting_payment" {
            if order.pay_by <= now {
                commands.push(OrderCommand::Expire { at: now });
            } else if !order.warned {
                commands.push(OrderCommand::WarnExpiry { warning, at: now });
            }
        }
        if order.retry_at.is_some_and(|at| at <= now) {
            commands.push(OrderCommand::RetryRefunds { at: now });
        }
        for command in commands {
            match state
                .orders()
                .execute_from(order_id.clone(), command, Origin::default())
                .await
            {
                Ok(decided) if !decided.events.is_empty() => {
                    metrics::counter!("order_timer_steps_total").increment(1);
                }
                Ok(_) | Err(CommandError::Rejected(_)) => {}
                Err(e) => tracing::warn!(error = %e, "the order timer could not act on an order"),
            }
        }
    }
    Ok(())
}
