//! `rejected_messages`: deliveries that are not feed messages at all, kept for a human instead
//! of blocking the queue. Only the message id and what kind of unreadable it is; never the
//! body, which may hold personal data. (A readable message whose event cannot be decoded or
//! loaded goes to the quarantine instead, where it can be retried.)

use sqlx::PgConnection;

/// A delivery that could not be read; stored in `rejected_messages` with its batch.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub message_id: Option<String>,
    /// `syntax`, `data` or `eof`: how the body failed to parse, without its text.
    pub error: &'static str,
}

impl Rejected {
    pub fn new(message_id: Option<String>, error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let error = match error.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "eof",
        };
        Self { message_id, error }
    }
}

pub(super) async fn write(tx: &mut PgConnection, rejected: &[Rejected]) -> Result<(), sqlx::Error> {
    if rejected.is_empty() {
        return Ok(());
    }
    tracing::error!(
        count = rejected.len(),
        "unreadable feed messages stored in warehouse.rejected_messages"
    );
    metrics::counter!("etl_messages_rejected_total").increment(rejected.len() as u64);
    let ids: Vec<Option<&str>> = rejected.iter().map(|r| r.message_id.as_deref()).collect();
    let errors: Vec<&str> = rejected.iter().map(|r| r.error).collect();
    sqlx::query(
        "INSERT INTO warehouse.rejected_messages (message_id, error)
         SELECT * FROM unnest($1::text[], $2::text[])",
    )
    .bind(&ids)
    .bind(&errors)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
