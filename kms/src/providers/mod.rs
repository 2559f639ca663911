//! Root key providers: the one place a root key lives.
//!
//! A provider wraps and unwraps tenant secrets; it never hands its root key out. Each provider
//! says whether it is fit for production, so a development provider cannot pass for an HSM.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{error::KmsError, secret::SecretKey};

pub mod file;
pub mod local;
pub mod pkcs11;
mod rekey;
pub mod sealed;

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

/// Refuses a wrapped key that another provider or another root key made, naming both (ids are
/// key-check values, not secrets).
pub(crate) fn check_origin(
    provider: &dyn RootKeyProvider,
    wrapped: &WrappedKey,
) -> Result<(), KmsError> {
    if wrapped.provider != provider.name() {
        return Err(KmsError::Provider(format!(
            "key was wrapped by provider `{}`, not `{}`",
            wrapped.provider,
            provider.name()
        )));
    }
    if wrapped.root_key_id != provider.root_key_id() {
        return Err(KmsError::Provider(format!(
            "key was wrapped by root key {}, this is root key {}",
            wrapped.root_key_id,
            provider.root_key_id()
        )));
    }
    Ok(())
}

/// Where a provider keeps its root key, and how a rotation replaces it: the incoming key is
/// made beside the current one ("next"), every key ring is re-wrapped, then the next key is
/// promoted and the old one erased. A crash between those steps leaves a next key behind, which
/// the vault finds at start and finishes the rotation with.
pub trait RootKeySlot: Send + Sync {
    /// Where the key lives, for logs (no secrets).
    fn describe(&self) -> String;
    /// The current root key (created on first use where the provider can).
    fn current(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError>;
    /// The incoming root key of a rotation; made now when `create`, else only if one exists.
    fn next(&self, create: bool) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError>;
    /// Makes the next key current and erases the old one; returns the new current key.
    fn promote_next(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError>;
    /// Ids of every root key the slot still holds (current and next), so an officer can check
    /// that a replaced key is really gone.
    fn key_ids(&self) -> Result<Vec<String>, KmsError>;
    /// A rotation that also replaces the unseal shares: makes the incoming root key under a new
    /// unseal key and returns it with that key's `shares` shares (`threshold` of which combine).
    /// It is promoted only when a threshold of the new shares is confirmed
    /// ([`Self::confirm_new_share`]); until then the current shares keep working. `None`: this
    /// slot has no shares.
    #[allow(clippy::type_complexity)]
    fn rekey(
        &self,
        _shares: u8,
        _threshold: u8,
    ) -> Result<Option<(Arc<dyn RootKeyProvider>, Vec<zeroize::Zeroizing<String>>)>, KmsError> {
        Ok(None)
    }
    /// While a rotation with new shares waits: (new shares confirmed, threshold).
    fn awaiting_new_shares(&self) -> Result<Option<(u8, u8)>, KmsError> {
        Ok(None)
    }
    /// Counts one new share; at the threshold the incoming root key is promoted (the old shares
    /// stop working) and returned.
    fn confirm_new_share(
        &self,
        _share: &str,
    ) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
        Err(KmsError::Provider("this root key has no shares".into()))
    }
}

/// Stands in for the root key while the vault is sealed: every use fails with
/// [`KmsError::Sealed`], so nothing can be wrapped or unwrapped.
#[derive(Debug, Clone, Copy)]
pub struct SealedRoot;

impl RootKeyProvider for SealedRoot {
    fn name(&self) -> &'static str {
        "sealed"
    }

    fn fit_for_production(&self) -> bool {
        true
    }

    fn root_key_id(&self) -> String {
        String::new()
    }

    fn wrap(&self, _: &SecretKey, _: &str) -> Result<WrappedKey, KmsError> {
        Err(KmsError::Sealed)
    }

    fn unwrap(&self, _: &WrappedKey, _: &str) -> Result<SecretKey, KmsError> {
        Err(KmsError::Sealed)
    }
}
