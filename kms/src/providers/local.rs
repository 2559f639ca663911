//! A root key held in this process's memory: the wrapping shared by the providers that load
//! their key from disk (`file`, and `sealed` once unsealed).
//!
//! AES-256-GCM with a random 96-bit nonce; the caller's context is bound as associated data so
//! a wrapped key moved to another tenant or purpose does not unwrap.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{RootKeyProvider, WrappedKey};
use crate::{error::KmsError, secret::SecretKey};

/// Key-check value of a 256-bit key under `label`: the first 8 bytes of HMAC-SHA256, hex. Tells
/// keys apart without revealing anything usable about them.
pub fn key_check_value(key: &SecretKey, label: &[u8]) -> String {
    // ok: HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret()).expect("any key length");
    mac.update(label);
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// A root key in memory (the AES key schedule is wiped on drop by `aes`'s zeroize feature).
pub struct LocalRootKey {
    name: &'static str,
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for LocalRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRootKey")
            .field("provider", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl LocalRootKey {
    /// Uses `key` as the root key of provider `name`.
    pub fn new(name: &'static str, key: &SecretKey) -> Self {
        // ok: the key is exactly 32 bytes.
        #[allow(clippy::expect_used)]
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key");
        Self {
            name,
            cipher,
            key_id: key_check_value(key, b"valv/v1/root-key-id"),
        }
    }

    fn aad(context: &str) -> Vec<u8> {
        let mut aad = b"valv/v1/wrap/".to_vec();
        aad.extend_from_slice(context.as_bytes());
        aad
    }
}

impl RootKeyProvider for LocalRootKey {
    fn name(&self) -> &'static str {
        self.name
    }

    fn fit_for_production(&self) -> bool {
        false
    }

    fn root_key_id(&self) -> String {
        self.key_id.clone()
    }

    /// AES-256-GCM under the root key with a random 96-bit nonce. A root key wraps a few keys per
    /// tenant and rotation, many orders of magnitude below GCM's 2^32 random-nonce limit.
    fn wrap(&self, secret: &SecretKey, context: &str) -> Result<WrappedKey, KmsError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(context);
        let body = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: secret.expose_secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| KmsError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(WrappedKey {
            provider: self.name.to_owned(),
            root_key_id: self.key_id.clone(),
            wrapped_hex: hex::encode(out),
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError> {
        super::check_origin(self, wrapped)?;
        let bytes = hex::decode(&wrapped.wrapped_hex)
            .map_err(|_| KmsError::Malformed("wrapped key hex"))?;
        if bytes.len() != 12 + 32 + 16 {
            return Err(KmsError::Malformed("wrapped key length"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&bytes[..12]);
        let aad = Self::aad(context);
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: &bytes[12..],
                        aad: &aad,
                    },
                )
                .map_err(|_| KmsError::Decrypt)?,
        );
        SecretKey::from_slice(&plain).ok_or(KmsError::Malformed("wrapped key length"))
    }
}
