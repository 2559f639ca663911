//! Subject handles: how the vault names a person without holding the identifier.
//!
//! A handle is HMAC-SHA256 under the tenant's subject key over the identifier kind and the
//! normalised identifier, truncated to 128 bits. The same identifier gives the same handle in
//! every domain of the tenant, so a consent follows the person; without the key a handle
//! reveals nothing, so audit entries and consents may hold it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use valv_kms::SecretKey;

use super::identifier::IdentifierKind;

pub use crate::model::SubjectHandle;

/// An erasure tweak (see `TombstoneRecord::tweak`).
pub type Tweak = [u8; 16];

/// The erased subjects of a tenant and the tweak of each one's tombstone.
pub type Erased = std::collections::HashMap<SubjectHandle, Tweak>;

/// A fresh random erasure tweak.
pub fn new_tweak() -> Tweak {
    use rand::Rng;
    let mut t = [0u8; 16];
    rand::rng().fill_bytes(&mut t);
    t
}

/// Computes subject handles for one tenant.
#[derive(Clone)]
pub struct SubjectHasher(Hmac<Sha256>);

impl SubjectHasher {
    /// From the tenant's subject key.
    pub fn new(key: &SecretKey) -> Self {
        // ok: HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret()).expect("any key length"),
        )
    }

    /// The handle of a normalised identifier of `kind`.
    pub fn handle(&self, kind: IdentifierKind, normalised: &[u8]) -> SubjectHandle {
        let mut mac = self.0.clone();
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(normalised);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_depend_on_key_kind_and_value() {
        let a = SubjectHasher::new(&SecretKey::from_bytes([1; 32]));
        let b = SubjectHasher::new(&SecretKey::from_bytes([2; 32]));
        let h = a.handle(IdentifierKind::Email, b"x@y.se");
        assert_eq!(h, a.handle(IdentifierKind::Email, b"x@y.se"));
        assert_ne!(h, b.handle(IdentifierKind::Email, b"x@y.se"));
        assert_ne!(h, a.handle(IdentifierKind::Opaque, b"x@y.se"));
    }
}
