//! Opaque refresh tokens: 32 random bytes the client holds, of which the server keeps only the
//! SHA-256 digest, so a leaked table of digests renews no session. Unlike a password the token
//! is high-entropy, so a fast unsalted hash is enough: there is nothing to guess.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new refresh token: the text to give the client (base64url, no padding) and the digest to
/// store.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source is available");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

/// The digest under which a presented token is looked up. It hashes the text as presented, so
/// any string, well-formed or not, has one; a malformed token simply matches no row.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_32_random_bytes_in_base64url() {
        let (token, _) = new_refresh_token();
        let bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
        assert_eq!(bytes.len(), 32);
        assert!(!token.contains(['+', '/', '=']), "{token}");
    }

    #[test]
    fn the_stored_digest_is_the_digest_of_the_given_token() {
        let (token, stored) = new_refresh_token();
        assert_eq!(digest(&token), stored);
        assert_ne!(digest(&format!("{token}x")), stored);
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(new_refresh_token().0, new_refresh_token().0);
    }
}
