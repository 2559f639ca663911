//! Ed25519 signing keys derived from a tenant's signing secret: the audit-checkpoint key (and,
//! with its own derivation label, the consent-receipt key of a later issue).
//!
//! The private half never leaves this type; it zeroizes on drop (`ed25519-dalek`'s `zeroize`
//! feature) and prints nothing in `Debug`. The public half is meant to be exported.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey as DalekKey};

use crate::secret::SecretKey;

/// An Ed25519 private key.
pub struct SigningKey(DalekKey);

impl SigningKey {
    /// The key whose 32-byte seed is `seed` (RFC 8032 private key).
    pub fn from_seed(seed: &SecretKey) -> Self {
        Self(DalekKey::from_bytes(seed.expose_secret()))
    }

    /// Signs `message`; 64 bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_1() {
        // RFC 8032 §7.1, TEST 1: empty message.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap_or_default()
                .try_into()
                .unwrap_or([0; 32]);
        let key = SigningKey::from_seed(&SecretKey::from_bytes(seed));
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let seed = SecretKey::from_bytes([3; 32]);
        let key = SigningKey::from_seed(&seed);
        let text = format!("{key:?}");
        assert!(text.contains(&hex::encode(key.public_key())));
        assert!(!text.contains(&hex::encode([3u8; 32])));
    }
}
