//! The attempt a keyed request runs as: what the idempotency layer hands the request's
//! handler, and what it keeps of the command the handler hands over, so that a retry can
//! learn whether that command landed and, if not, run it again the same way.

use commands::Cause;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// Who the commands of keyed requests are caused by, as their streams remember it.
const CAUSED_BY: &str = "idempotency-key";

/// Where a keyed request's command went: what a retry needs to learn whether it landed, and
/// to run it again exactly the same way if it did not.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Handed {
    /// The `event_id` of the cause the command was executed with.
    pub(super) cause: Uuid,
    pub(super) stream: String,
    /// The id the request answers with.
    pub(super) answer: i64,
}

/// What a keyed POST's handler gets from the idempotency layer (as a request extension): the
/// cause to execute its command with, and where to note the command before handing it over.
#[derive(Clone)]
pub(crate) struct Attempt {
    cause: Uuid,
    /// The id an earlier run of this request answered with, when this run repeats one whose
    /// outcome was unknown: the handler answers with it again instead of taking a new one.
    earlier: Option<i64>,
    handed: Arc<Mutex<Option<Handed>>>,
}

impl Attempt {
    /// The first run of a request. The cause is new for each claim, not derived from the key:
    /// a key is free to mean another request once its reply expires, but a stream remembers
    /// its causes for ever.
    pub(super) fn first() -> Self {
        Self {
            cause: Uuid::now_v7(),
            earlier: None,
            handed: Arc::default(),
        }
    }

    /// Another run of a request whose command was `handed` over before, with no known outcome.
    pub(super) fn again(handed: Handed) -> Self {
        Self {
            cause: handed.cause,
            earlier: Some(handed.answer),
            handed: Arc::new(Mutex::new(Some(handed))),
        }
    }

    /// The cause to execute the request's command with.
    pub(crate) fn cause(&self) -> Cause {
        cause(self.cause)
    }

    /// The id to answer with when an earlier run of this request already took one.
    pub(crate) fn earlier(&self) -> Option<i64> {
        self.earlier
    }

    /// Notes that the command answered by `answer` goes to `stream` now. From here on a
    /// failure leaves the request's outcome unknown.
    pub(crate) fn hand_over(&self, stream: &str, answer: i64) {
        *self.handed.lock().unwrap_or_else(PoisonError::into_inner) = Some(Handed {
            cause: self.cause,
            stream: stream.to_owned(),
            answer,
        });
    }

    pub(super) fn handed(&self) -> Option<Handed> {
        self.handed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The cause of the commands of the attempt `event_id` names.
pub(super) fn cause(event_id: Uuid) -> Cause {
    Cause {
        event_id,
        by: CAUSED_BY,
        part: 0,
    }
}
