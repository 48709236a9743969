//! The hold expiry timer: records `HoldExpired` for each hold whose time has come, so the read
//! models, seat maps and lobby members see its seats free within about a second.
//!
//! Nothing depends on it for correctness: every command decides expiry from its own time, and
//! records the expiry first when it finds a hold past its time. So the timer needs no leader:
//! each instance runs one, and a second `ExpireHolds` for the same train records nothing. It
//! asks the `holds` read model which trains have holds due (an index on the live holds'
//! expiry), then commands each train's stream.

use crate::AppState;
use chrono::Utc;
use domain::{TrainCommand, TrainId};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most trains one round expires; the rest wait for the next round, a moment later.
const ROUND: i64 = 100;

/// Runs until `shutdown`, looking for due holds every `poll`.
pub(crate) async fn run(state: AppState, poll: Duration, shutdown: CancellationToken) {
    loop {
        let due = match round(&state).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error = %error, "the hold expiry timer could not run a round");
                0
            }
        };
        // A full round may have left more behind: go again at once.
        let pause = if due >= ROUND { Duration::ZERO } else { poll };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Expires the due holds of up to [`ROUND`] trains; answers how many trains had some.
async fn round(state: &AppState) -> Result<i64, sqlx::Error> {
    let now = Utc::now();
    let trains: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT train_id FROM (
             SELECT train_id FROM read_models.holds
             WHERE status = 'active' AND expires_at <= $1
             ORDER BY expires_at LIMIT $2) due",
    )
    .bind(now)
    .bind(ROUND)
    .fetch_all(state.pool())
    .await?;
    let due = i64::try_from(trains.len()).unwrap_or(ROUND);
    for train in trains {
        let command = TrainCommand::ExpireHolds { at: now };
        match state.trains().execute(TrainId(train), command).await {
            Ok(decided) => {
                let expired = decided.events.len();
                if expired > 0 {
                    metrics::counter!("holds_expired_total").increment(expired as u64);
                }
            }
            // A removed train released its holds; its rows follow shortly.
            Err(commands::CommandError::Rejected(_)) => {}
            Err(error) => {
                tracing::warn!(train.id = train, error = %error, "holds could not be expired");
            }
        }
    }
    Ok(due)
}
