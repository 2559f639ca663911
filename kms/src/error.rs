//! The one error type of `valv-kms`. Messages never contain key bytes or plaintext.

use thiserror::Error;

/// Everything that can go wrong with key material.
#[derive(Debug, Error)]
pub enum KmsError {
    /// A ciphertext or wrapped key failed authentication: wrong key, wrong context (AAD) or
    /// tampered bytes. Deliberately says nothing more.
    #[error("decryption failed: ciphertext not authentic under this key and context")]
    Decrypt,
    /// A ciphertext or wrapped key is not in a format this version understands.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// The ciphertext names a key version the ring does not hold (retired or destroyed).
    #[error("key version {0} is not available")]
    UnknownVersion(u32),
    /// The active version cannot be destroyed (rotate first).
    #[error("key version {0} is active; rotate before destroying it")]
    ActiveVersion(u32),
    /// The root key provider could not load, create or use its key.
    #[error("root key provider: {0}")]
    Provider(String),
    /// Reading or writing key files failed.
    #[error("root key file: {0}")]
    Io(#[from] std::io::Error),
    /// The vault is sealed: no root key is in memory until enough unseal shares arrive.
    #[error("the vault is sealed; unseal it with the operators' key shares")]
    Sealed,
    /// Unseal shares that are malformed, from another vault, or do not combine to its key.
    #[error("unseal share: {0}")]
    Share(String),
    /// The PKCS#11 module or token refused an operation.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// Encryption itself failed (the AEAD refused the input length).
    #[error("encryption failed")]
    Encrypt,
}
