//! Who travels on a booking, as the log records it.
//!
//! A traveller of an account travels under a name sealed with the owner's data key (see
//! `Sealed`), so that erasing the account leaves nothing readable in the log; the rule "one
//! booking per traveller per train" compares a keyed tag of the name instead of the name. A
//! booking made without accounts (`AUTH=off`, and every booking made before accounts existed)
//! holds the name in the clear.

use crate::{Sealed, UserId};
use serde::{Deserialize, Serialize};

/// A booking's traveller. Stored in the events' `user_credentials` field: a string for a
/// named traveller, as it always was, an object for an account's.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Traveller {
    /// A traveller of the account `owner`: the name sealed under the owner's key, and a tag of
    /// the name under the same key (equal names of one owner get equal tags).
    Owned {
        owner: UserId,
        name: Sealed,
        tag: String,
    },
    /// A name in the clear, with no account behind it.
    Named(String),
}

/// What the one-booking-per-traveller rule compares: the name of a named traveller, the owner
/// and tag of an account's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    Named(String),
    Owned(UserId, String),
}

impl Traveller {
    /// The account the booking belongs to, if any.
    pub fn owner(&self) -> Option<UserId> {
        match self {
            Self::Owned { owner, .. } => Some(*owner),
            Self::Named(_) => None,
        }
    }

    pub fn holder(&self) -> Holder {
        match self {
            Self::Owned { owner, tag, .. } => Holder::Owned(*owner, tag.clone()),
            Self::Named(name) => Holder::Named(name.clone()),
        }
    }
}

impl From<String> for Traveller {
    fn from(name: String) -> Self {
        Self::Named(name)
    }
}

impl From<&str> for Traveller {
    fn from(name: &str) -> Self {
        Self::Named(name.to_owned())
    }
}

// Names are personal data: a traveller never prints them, even in a debug log.
impl std::fmt::Debug for Traveller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Owned { owner, .. } => write!(f, "Traveller::Owned({owner}, ..)"),
            Self::Named(_) => f.write_str("Traveller::Named(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_traveller_is_stored_as_the_plain_string_it_always_was() {
        let named = Traveller::from("Tom Ford");
        assert_eq!(
            serde_json::to_value(&named).expect("encodes"),
            serde_json::json!("Tom Ford")
        );
        assert_eq!(
            serde_json::from_value::<Traveller>(serde_json::json!("Tom Ford")).expect("decodes"),
            named
        );
    }

    #[test]
    fn an_accounts_traveller_round_trips_as_an_object() {
        let owned = Traveller::Owned {
            owner: UserId(3),
            name: Sealed("c2VhbGVk".into()),
            tag: "ab12".into(),
        };
        let stored = serde_json::to_value(&owned).expect("encodes");
        assert_eq!(
            stored,
            serde_json::json!({"owner": 3, "name": "c2VhbGVk", "tag": "ab12"})
        );
        assert_eq!(
            serde_json::from_value::<Traveller>(stored).expect("decodes"),
            owned
        );
    }

    #[test]
    fn debug_output_hides_the_name() {
        assert!(!format!("{:?}", Traveller::from("Tom Ford")).contains("Tom"));
    }
}
