//! Picking an adapter by name (`PAYMENT_PROVIDER`), once, at start-up. The rest of the system
//! holds an [`AnyProvider`] and cannot tell which provider runs behind it; enum dispatch keeps
//! the port's `impl Future` methods, which a `dyn` trait object could not.

use crate::simulator;
use crate::{PaymentProvider, PaymentRequest, ProviderError, RefundRequest};
use std::fmt;
use std::str::FromStr;

/// The adapters there are, by the name that selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The in-repo [`simulator`], reached over HTTP.
    Simulated,
}

impl ProviderKind {
    /// Every kind, in the order `--help` and errors list them.
    pub const ALL: [Self; 1] = [Self::Simulated];

    /// The name that selects it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name no adapter answers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment provider {0:?} (expected one of: {choices})", choices = choices())]
pub struct UnknownProviderKind(pub String);

fn choices() -> String {
    ProviderKind::ALL.map(ProviderKind::name).join(", ")
}

impl FromStr for ProviderKind {
    type Err = UnknownProviderKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownProviderKind(name.to_owned()))
    }
}

/// Whichever adapter the settings selected.
#[derive(Clone)]
pub enum AnyProvider {
    Simulated(simulator::Client),
}

impl AnyProvider {
    /// The adapter of `kind`, talking to the provider at `base_url` (for
    /// [`ProviderKind::Simulated`], a running simulator, e.g. `http://127.0.0.1:8090`).
    pub fn new(kind: ProviderKind, base_url: &str) -> Self {
        match kind {
            ProviderKind::Simulated => Self::Simulated(simulator::Client::new(base_url)),
        }
    }
}

impl From<simulator::Client> for AnyProvider {
    fn from(client: simulator::Client) -> Self {
        Self::Simulated(client)
    }
}

impl PaymentProvider for AnyProvider {
    async fn request_payment(&self, request: &PaymentRequest) -> Result<(), ProviderError> {
        match self {
            Self::Simulated(client) => client.request_payment(request).await,
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<(), ProviderError> {
        match self {
            Self::Simulated(client) => client.refund(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_names_the_simulator() {
        assert_eq!("simulated".parse(), Ok(ProviderKind::Simulated));
        assert_eq!(ProviderKind::Simulated.to_string(), "simulated");
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_choices() {
        let error = "stripe"
            .parse::<ProviderKind>()
            .expect_err("no such adapter");
        assert_eq!(
            error.to_string(),
            r#"unknown payment provider "stripe" (expected one of: simulated)"#
        );
    }
}
