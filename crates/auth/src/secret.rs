//! The server secret (`AUTH_SECRET`) and the sealing it is for: signing keys rest in PostgreSQL
//! encrypted under a key derived from it, so a copy of the database alone cannot mint tokens.
//! It is separate from the key ring because it is the one piece of configuration that must never
//! reach a log: the type prints as `AuthSecret(..)` and has no `Display`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The fewest bytes a secret may have: as many as the AES-256 key derived from it.
pub const MIN_SECRET_LEN: usize = 32;

/// Fixed HKDF salt. The secret is already high-entropy, so the salt only separates this
/// derivation from any other use of the same secret; it names the purpose and its version.
const SALT: &[u8] = b"booking/auth/v1";
/// HKDF context for the key that seals signing keys. A later purpose derives its own key
/// from the same secret with another label.
const SEALING_INFO: &[u8] = b"signing-key sealing";

/// The server secret every instance shares, at least [`MIN_SECRET_LEN`] bytes. Parse it once
/// at start-up (`AuthSecret::from_str` suits a clap argument) and hand it to the key ring.
#[derive(Clone)]
pub struct AuthSecret(Vec<u8>);

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(..)")
    }
}

/// Why a secret was refused. It never repeats the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("AUTH_SECRET must be at least {MIN_SECRET_LEN} bytes long, it has {0}")]
pub struct SecretTooShort(pub usize);

impl AuthSecret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// The AES-256-GCM key that seals signing keys at rest.
    pub(crate) fn sealer(&self) -> Sealer {
        self.sealer_for(SEALING_INFO)
    }

    /// An AES-256-GCM key of its own for the purpose `info` names.
    pub(crate) fn sealer_for(&self, info: &'static [u8]) -> Sealer {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&self.0);
        let info = [info];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("HKDF-SHA256 can always expand to 32 bytes");
        Sealer(LessSafeKey::new(UnboundKey::from(okm)))
    }

    /// An HMAC-SHA256 key of its own for the purpose `info` names.
    pub(crate) fn mac_for(&self, info: &'static [u8]) -> aws_lc_rs::hmac::Key {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&self.0);
        let info = [info];
        let okm = prk
            .expand(&info, aws_lc_rs::hmac::HMAC_SHA256)
            .expect("HKDF-SHA256 can always expand to 32 bytes");
        aws_lc_rs::hmac::Key::from(okm)
    }
}

impl std::str::FromStr for AuthSecret {
    type Err = SecretTooShort;

    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Self::new(secret.as_bytes())
    }
}

/// Encrypts and authenticates signing keys for the database. Each sealed value is
/// `nonce || ciphertext || tag` with a random nonce, and names its row (the `kid`) as
/// associated data, so a sealed key copied onto another row does not open.
pub(crate) struct Sealer(LessSafeKey);

/// A sealed value that does not open: another secret sealed it, or it was altered.
#[derive(Debug, thiserror::Error)]
#[error("the sealed value does not open with this secret")]
pub(crate) struct Unopenable;

impl Sealer {
    pub(crate) fn seal(&self, kid: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source is available");
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        out
    }

    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, Unopenable> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(Unopenable)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unopenable)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| Unopenable)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(fill: u8) -> AuthSecret {
        AuthSecret::new(vec![fill; MIN_SECRET_LEN]).expect("long enough")
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        assert_eq!(
            "too short".parse::<AuthSecret>().err(),
            Some(SecretTooShort(9))
        );
        assert!("x".repeat(MIN_SECRET_LEN).parse::<AuthSecret>().is_ok());
    }

    #[test]
    fn the_secret_never_prints() {
        let secret: AuthSecret = "correct horse battery staple and more"
            .parse()
            .expect("long enough");
        assert_eq!(format!("{secret:?}"), "AuthSecret(..)");
    }

    #[test]
    fn a_sealed_value_opens_with_its_secret_and_kid_only() {
        let plaintext = b"a private key, in PKCS#8";
        let sealed = secret(1).sealer().seal("kid-1", plaintext);

        assert!(
            !sealed.windows(plaintext.len()).any(|w| w == plaintext),
            "the plaintext must not show through"
        );
        assert_eq!(
            secret(1).sealer().open("kid-1", &sealed).ok(),
            Some(plaintext.to_vec())
        );
        assert!(secret(2).sealer().open("kid-1", &sealed).is_err());
        assert!(secret(1).sealer().open("kid-2", &sealed).is_err());
    }

    #[test]
    fn an_altered_or_truncated_seal_does_not_open() {
        let sealed = secret(1).sealer().seal("kid", b"payload");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;

        assert!(secret(1).sealer().open("kid", &altered).is_err());
        assert!(secret(1).sealer().open("kid", &sealed[..5]).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let sealer = secret(1).sealer();
        assert_ne!(
            sealer.seal("kid", b"payload"),
            sealer.seal("kid", b"payload")
        );
    }
}
