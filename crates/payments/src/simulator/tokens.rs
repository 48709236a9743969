//! The simulator's test tokens: what a payment made with each does. Parsed once, when the
//! payment is asked for, so an unknown token is refused at once, as a real provider refuses
//! an unknown card token.

use std::time::Duration;

/// The longest `tok_delayed_<ms>` may wait: long enough for any test of an order's
/// timeouts, short enough that a typo does not leave a task sleeping for days.
pub(super) const MAX_DELAY: Duration = Duration::from_secs(600);

/// What a payment's token makes happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    Succeed,
    Decline,
    SucceedAfter(Duration),
    /// Succeeds, with its success delivered three times and a stale pending among them.
    Duplicate,
    /// Succeeds, and every refund of it fails.
    RefundsFail,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenError {
    Unknown,
    BadDelay,
}

impl Behaviour {
    pub(super) fn of(token: &str) -> Result<Self, TokenError> {
        if let Some(millis) = token.strip_prefix("tok_delayed_") {
            return delay(millis).map(Self::SucceedAfter);
        }
        match token {
            "tok_success" => Ok(Self::Succeed),
            "tok_decline" => Ok(Self::Decline),
            "tok_duplicate" => Ok(Self::Duplicate),
            "tok_refund_fails" => Ok(Self::RefundsFail),
            _ => Err(TokenError::Unknown),
        }
    }
}

/// Digits only: `u64::from_str` would also take a sign.
fn delay(millis: &str) -> Result<Duration, TokenError> {
    if millis.is_empty() || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::BadDelay);
    }
    let delay = millis
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| TokenError::BadDelay)?;
    if delay > MAX_DELAY {
        return Err(TokenError::BadDelay);
    }
    Ok(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_test_token_names_its_behaviour() {
        assert_eq!(Behaviour::of("tok_success"), Ok(Behaviour::Succeed));
        assert_eq!(Behaviour::of("tok_decline"), Ok(Behaviour::Decline));
        assert_eq!(Behaviour::of("tok_duplicate"), Ok(Behaviour::Duplicate));
        assert_eq!(
            Behaviour::of("tok_refund_fails"),
            Ok(Behaviour::RefundsFail)
        );
        assert_eq!(
            Behaviour::of("tok_delayed_1500"),
            Ok(Behaviour::SucceedAfter(Duration::from_millis(1500)))
        );
    }

    #[test]
    fn a_delay_up_to_ten_minutes_is_taken() {
        assert_eq!(
            Behaviour::of("tok_delayed_600000"),
            Ok(Behaviour::SucceedAfter(MAX_DELAY))
        );
        assert_eq!(
            Behaviour::of("tok_delayed_0"),
            Ok(Behaviour::SucceedAfter(Duration::ZERO))
        );
    }

    #[test]
    fn a_delay_that_is_not_a_small_number_is_refused() {
        for token in [
            "tok_delayed_",
            "tok_delayed_600001",
            "tok_delayed_-5",
            "tok_delayed_+5",
            "tok_delayed_1.5",
            "tok_delayed_99999999999999999999999",
        ] {
            assert_eq!(Behaviour::of(token), Err(TokenError::BadDelay), "{token}");
        }
    }

    #[test]
    fn any_other_token_is_unknown() {
        for token in [
            "",
            "tok_succes",
            "TOK_SUCCESS",
            "tok_success ",
            "4242424242424242",
        ] {
            assert_eq!(Behaviour::of(token), Err(TokenError::Unknown), "{token:?}");
        }
    }
}
