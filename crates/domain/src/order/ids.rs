//! The names of orders, payments and refunds. An order id is chosen by the caller (a UUID in
//! practice); a payment's and a refund's are derived from their order and a counter, so the
//! provider's webhook, which echoes them, leads straight to the order's stream without a lookup
//! that might lag behind.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An id that is not of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0} id")]
pub struct BadId(&'static str);

/// Identifies an order and names its stream (`order-{id}`): 1 to 64 letters, digits or dashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    /// Prefix shared by every order stream.
    pub const STREAM_PREFIX: &'static str = "order-";

    pub fn parse(raw: &str) -> Result<Self, BadId> {
        let valid = (1..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(BadId("order"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream that holds this order.
    pub fn stream(&self) -> String {
        format!("{}{}", Self::STREAM_PREFIX, self.0)
    }
}

/// A payment of an order: `pay_{n}_{order}`, the `n`-th payment asked for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentId(String);

/// A refund of an order: `ref_{n}_{order}`, the `n`-th refund asked for it (a retry of a failed
/// refund is a new refund: the failed one paid nothing out).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RefundId(String);

macro_rules! derived_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        impl $name {
            pub fn new(order: &OrderId, n: u32) -> Self {
                Self(format!(concat!($prefix, "_{}_{}"), n, order))
            }

            /// The order this id belongs to.
            pub fn order(&self) -> OrderId {
                // Checked at construction: the part after the counter is an order id.
                let order = self.0.splitn(3, '_').nth(2).unwrap_or_default();
                OrderId(order.to_owned())
            }

            pub fn parse(raw: &str) -> Result<Self, BadId> {
                let mut parts = raw.splitn(3, '_');
                let valid = parts.next() == Some($prefix)
                    && parts
                        .next()
                        .is_some_and(|n| n.parse::<u32>().is_ok_and(|v| v.to_string() == n))
                    && parts
                        .next()
                        .is_some_and(|order| OrderId::parse(order).is_ok());
                if valid {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(BadId($what))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;

            fn try_from(raw: String) -> Result<Self, BadId> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

derived_id!(PaymentId, "pay", "payment");
derived_id!(RefundId, "ref", "refund");

impl TryFrom<String> for OrderId {
    type Error = BadId;

    fn try_from(raw: String) -> Result<Self, BadId> {
        Self::parse(&raw)
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> Self {
        id.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_id_leads_back_to_its_order() {
        let order = OrderId::parse("0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b").expect("an order id");
        let payment = PaymentId::new(&order, 2);
        assert_eq!(
            payment.as_str(),
            "pay_2_0193a8f2-7c1e-7d3a-9b1f-2a4c6e8f0a1b"
        );
        assert_eq!(PaymentId::parse(payment.as_str()), Ok(payment.clone()));
        assert_eq!(payment.order(), order);
        assert_eq!(RefundId::new(&order, 1).order(), order);
    }

    #[test]
    fn ids_of_another_shape_are_refused() {
        for raw in [
            "",
            "pay_",
            "pay_1",
            "pay_x_abc",
            "ref_1_abc",
            "pay_1_a_b",
            "pay_01_abc",
            "pay_+1_abc",
        ] {
            assert!(PaymentId::parse(raw).is_err(), "{raw}");
        }
        assert!(RefundId::parse("pay_1_abc").is_err());
        assert!(OrderId::parse("a_b").is_err());
        assert!(OrderId::parse(&"a".repeat(65)).is_err());
    }
}
