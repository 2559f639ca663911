//! Valv key material, and nothing else.
//!
//! The hierarchy (see `docs/concepts.md`):
//!
//! ```text
//! root key (file | sealed | PKCS#11)  ── wraps ──▶ tenant key ring v1..vn, pseudonym secret (epoch e), subject secret, signing secret
//! tenant key vN   ── HKDF(info = domain) ──▶ data key of that domain   ── per record ──▶ AES-256-GCM
//! pseudonym secret e ── HKDF(info = domain) ──▶ MAC / blind-index / FF1 keys of that domain
//! signing secret  ── HKDF(label) ──▶ Ed25519 audit-checkpoint key
//! ```
//!
//! Every secret here is a newtype that zeroizes on drop and prints no bytes in `Debug`; the only
//! way to read one is a method named `expose_secret`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod derive;
pub mod envelope;
pub mod error;
pub mod keyring;
pub mod providers;
pub mod secret;
pub mod signing;

pub use derive::{DerivedKeyPurpose, derive_key};
pub use envelope::{AadContext, DataKey, KeyVersion};
pub use error::KmsError;
pub use keyring::{KeyState, TenantKeys, WrappedTenantKeys};
pub use providers::{
    Rewrapping, RootKeyProvider, RootKeySlot, SealedRoot, WrappedKey,
    file::{FileRootKeyProvider, FileRootSlot},
    pkcs11::{Pkcs11Config, Pkcs11Slot},
    sealed::{SealFile, SealedFileSlot, Unsealer},
};
pub use secret::{SecretBytes, SecretKey};
pub use signing::SigningKey;
