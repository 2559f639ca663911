//! Root key providers: the one place a root key lives.
//!
//! A provider wraps and unwraps tenant secrets; it never hands its root key out. Each provider
//! says whether it is fit for production, so a development provider cannot pass for an HSM.

use serde::{Deserialize, Serialize};

use crate::{error::KmsError, secret::SecretKey};

pub mod file;

/// A secret wrapped (encrypted and authenticated) under a root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Provider that made it (`file`, `pkcs11`).
    pub provider: String,
    /// Key-check value of the root key that wrapped it (not secret; tells keys apart).
    pub root_key_id: String,
    /// Provider-specific wrapped bytes, lower-case hex.
    pub wrapped_hex: String,
}

/// Wraps and unwraps 256-bit secrets under a root key the caller never sees.
pub trait RootKeyProvider: Send + Sync {
    /// Short provider name, e.g. `file`.
    fn name(&self) -> &'static str;
    /// True only for providers that keep the root key outside this process's memory (HSMs).
    fn fit_for_production(&self) -> bool;
    /// Key-check value of the current root key.
    fn root_key_id(&self) -> String;
    /// Wraps `secret`, bound to `context` (e.g. `tenant/7/enc/v1`): unwrapping needs the same context.
    fn wrap(&self, secret: &SecretKey, context: &str) -> Result<WrappedKey, KmsError>;
    /// Unwraps a key made by `wrap` with the same context.
    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError>;
}

/// During a root-key rotation: unwraps with whichever of two root keys wrapped a secret (told
/// apart by `root_key_id`), wraps with the new one.
pub struct Rewrapping<'a> {
    /// The root key being replaced.
    pub old: &'a dyn RootKeyProvider,
    /// The root key that replaces it.
    pub new: &'a dyn RootKeyProvider,
}

impl RootKeyProvider for Rewrapping<'_> {
    fn name(&self) -> &'static str {
        self.new.name()
    }

    fn fit_for_production(&self) -> bool {
        self.new.fit_for_production()
    }

    fn root_key_id(&self) -> String {
        self.new.root_key_id()
    }

    fn wrap(&self, secret: &SecretKey, context: &str) -> Result<WrappedKey, KmsError> {
        self.new.wrap(secret, context)
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError> {
        if wrapped.root_key_id == self.new.root_key_id() {
            self.new.unwrap(wrapped, context)
        } else {
            self.old.unwrap(wrapped, context)
        }
    }
}
