//! `rejected_messages`: feed messages that could not be read, kept for a human instead of
//! blocking the queue.

use sqlx::PgConnection;

/// A message that could not be read; stored in `rejected_messages` with its batch.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub message_id: Option<String>,
    pub body: String,
    pub error: String,
}

pub(super) async fn write(tx: &mut PgConnection, rejected: &[Rejected]) -> Result<(), sqlx::Error> {
    if rejected.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        count = rejected.len(),
        "unreadable feed messages stored in warehouse.rejected_messages"
    );
    let ids: Vec<Option<&str>> = rejected.iter().map(|r| r.message_id.as_deref()).collect();
    let bodies: Vec<&str> = rejected.iter().map(|r| r.body.as_str()).collect();
    let errors: Vec<&str> = rejected.iter().map(|r| r.error.as_str()).collect();
    sqlx::query(
        "INSERT INTO warehouse.rejected_messages (message_id, body, error)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
    )
    .bind(&ids)
    .bind(&bodies)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
