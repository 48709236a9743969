//! Where the feed lives on the broker: the URL, the names derived from the prefix, and the
//! durable topology. Apart from the publisher because the etl, the consumer, uses it too.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

/// Where the feed lives. Shared by the publisher (the feed) and the consumer (the etl), which
/// both declare the topology, so whichever starts first creates it. No `Debug`: the URL may
/// hold a password.
#[derive(Clone, clap::Args)]
#[group(id = "amqp-settings")]
#[command(next_help_heading = "RabbitMQ")]
pub struct Amqp {
    /// RabbitMQ URL of the warehouse feed.
    #[arg(
        id = "amqp-url",
        long = "amqp-url",
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,

    /// Prefix of the feed's names: exchange `<prefix>.events`, queue `<prefix>.etl`.
    #[arg(
        id = "amqp-prefix",
        long = "amqp-prefix",
        env = "AMQP_PREFIX",
        default_value = "warehouse"
    )]
    pub prefix: String,
}

impl Amqp {
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
        }
    }

    /// The durable fanout exchange the feed publishes to.
    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// The durable queue the etl consumes.
    pub fn queue(&self) -> String {
        format!("{}.etl", self.prefix)
    }

    pub async fn connect(&self) -> Result<Connection, lapin::Error> {
        Connection::connect(&self.url, ConnectionProperties::default()).await
    }

    /// Declares the exchange, the queue and their binding, all durable. Declaring is
    /// idempotent; the publisher declares the queue too, so nothing published before the
    /// etl's first start is dropped as unroutable.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                self.queue().into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                self.queue().into(),
                self.exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}
