//! Test support shared with other crates' tests: a canonical dump of a warehouse, so a test
//! can say two warehouses (say, one fed live through crashes and one loaded cleanly) are equal,
//! and a test's own exchange and queue on the shared broker, removed again.

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use projector::feed::Amqp;
use sqlx::PgPool;

/// Exchange and queue names of one test's own, deleted from the broker when this is dropped,
/// also when the test fails, so no test leaves persistent messages behind. Create it before
/// the processes or tasks that use it: they then stop first and cannot declare it again.
pub struct TestTopology {
    pub amqp: Amqp,
}

impl TestTopology {
    /// Names under a fresh prefix on the broker at `url`.
    pub fn new(url: &str) -> Self {
        let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
        Self {
            amqp: Amqp::new(url, prefix),
        }
    }
}

impl Drop for TestTopology {
    fn drop(&mut self) {
        let amqp = self.amqp.clone();
        event_store::testing::block_on_elsewhere(async move { delete_topology(&amqp).await });
    }
}

/// Deletes the exchange and queue named by `amqp`'s prefix, if the broker can be reached.
pub async fn delete_topology(amqp: &Amqp) {
    let Ok(connection) = amqp.connect().await else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        let _ = channel
            .queue_delete(amqp.queue().into(), QueueDeleteOptions::default())
            .await;
        let _ = channel
            .exchange_delete(amqp.exchange().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "done".into()).await;
}

/// The warehouse's content, without surrogate keys (they depend on load order), as sorted
/// lines: equal dumps mean equal warehouses.
pub async fn dump(warehouse: &PgPool) -> Vec<String> {
    let mut lines: Vec<String> = sqlx::query_scalar(
        "SELECT 'booking ' || (to_jsonb(f) - 'train_version_key' - 'route_key'
                 || jsonb_build_object('route', r.route,
                                       'version', t.from_commit || '.' || t.from_prepare))::text
         FROM warehouse.fact_booking f
         LEFT JOIN warehouse.dim_route r ON r.route_key = f.route_key
         LEFT JOIN warehouse.dim_train t ON t.train_version_key = f.train_version_key
         UNION ALL
         SELECT 'train ' || (to_jsonb(t) - 'train_version_key' - 'route_key'
                 || jsonb_build_object('route', r.route))::text
         FROM warehouse.dim_train t JOIN warehouse.dim_route r USING (route_key)
         UNION ALL SELECT 'seats ' || to_jsonb(s)::text FROM warehouse.fact_train_seats_daily s
         UNION ALL SELECT 'hold ' || to_jsonb(h)::text FROM warehouse.fact_hold h
         UNION ALL SELECT 'removal ' || to_jsonb(x)::text FROM warehouse.train_removals x
         UNION ALL SELECT 'route ' || route FROM warehouse.dim_route
         UNION ALL SELECT 'event ' || event_id || ' ' || commit_position || '.' || prepare_position
         FROM warehouse.loaded_events",
    )
    .fetch_all(warehouse)
    .await
    .expect("dump the warehouse");
    lines.sort();
    lines
}
