//! The conformance suite on the simulator, through its HTTP client adapter: one test per
//! check, each with its own simulator and sink, and the whole suite at once on one of each.

use crate::support::{Simulator, secret};
use payments::AnyProvider;
use payments::conformance::{Harness, WebhookSink};

struct Simulated {
    simulator: Simulator,
    sink: WebhookSink,
}

impl Simulated {
    async fn start() -> Self {
        let sink = WebhookSink::start(secret()).await.expect("start the sink");
        let simulator = Simulator::start(sink.url()).await;
        Self { simulator, sink }
    }
}

impl Harness for Simulated {
    type Provider = AnyProvider;

    /// Through [`AnyProvider`], as the services hold it.
    fn provider(&self) -> AnyProvider {
        AnyProvider::from(self.simulator.client())
    }

    fn sink(&self) -> &WebhookSink {
        &self.sink
    }
}

payments::conformance_tests!(Simulated::start());

#[tokio::test]
async fn the_whole_suite_passes_at_once_on_one_simulator() {
    let harness = Simulated::start().await;
    payments::conformance::run(harness.provider(), harness.sink()).await;
}
