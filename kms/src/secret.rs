//! Secret newtypes: zeroized on drop, no `Debug` bytes, no `Display`, no `Serialize`.
//!
//! A secret is read only through `expose_secret`, so every place that touches key bytes or a
//! plaintext identifier is visible in a search.

use std::fmt;

use rand::Rng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 256-bit key (root key, tenant key version, pseudonym secret, derived key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Length of every key in bytes.
    pub const LEN: usize = 32;

    /// A fresh key from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Takes ownership of key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies key bytes from a slice; `None` unless it is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(array))
    }

    /// The key bytes. Callers must not copy them into anything that outlives the call.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretKey {
    /// Constant-time, so comparing keys leaks nothing through timing.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(REDACTED)")
    }
}

/// Secret bytes of any length: a plaintext identifier, a decrypted record, a bearer token.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes (they are wiped when this value drops).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes. Callers must not log or return them except through a named declassifying step.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretBytes {
    fn from(value: String) -> Self {
        Self(value.into_bytes())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(REDACTED, {} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_bytes() {
        let key = SecretKey::from_bytes([0xAB; 32]);
        let text = format!("{key:?}");
        assert_eq!(text, "SecretKey(REDACTED)");
        let bytes = SecretBytes::new(b"199001011234".to_vec());
        let text = format!("{bytes:?}");
        assert!(!text.contains("1990"), "{text}");
        assert!(text.contains("REDACTED"));
    }

    #[test]
    fn generated_keys_differ_and_compare_in_constant_time() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        assert!(SecretKey::from_slice(&[0u8; 31]).is_none());
        assert!(SecretKey::from_slice(&[0u8; 32]).is_some());
    }
}
