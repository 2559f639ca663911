//! The `file` root key provider: a random 256-bit root key in a file with mode 0600.
//!
//! For development and single-machine trials only: the root key sits on the same disk as the data
//! it protects. The provider says so loudly when it creates or loads its key, and reports itself
//! as not fit for production.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

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

/// Root key kept in a local file.
pub struct FileRootKeyProvider {
    path: PathBuf,
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for FileRootKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRootKeyProvider")
            .field("path", &self.path)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl FileRootKeyProvider {
    /// Loads the root key at `path`, creating a fresh random one (mode 0600) if there is none.
    /// Returns the provider and whether the key was created now.
    pub fn open_or_create(path: &Path) -> Result<(Self, bool), KmsError> {
        let created = if path.exists() {
            false
        } else {
            let key = SecretKey::generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            let text = Zeroizing::new(hex::encode(key.expose_secret()));
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            true
        };
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KmsError::Provider(format!(
                "{} is readable by group or others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        let text = Zeroizing::new(fs::read_to_string(path)?);
        let bytes =
            Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
                KmsError::Provider("root key file is not 64 hex characters".into())
            })?);
        let key = SecretKey::from_slice(&bytes)
            .ok_or_else(|| KmsError::Provider("root key file is not 64 hex characters".into()))?;
        let provider = Self::from_key(path.to_path_buf(), key);
        tracing::warn!(
            path = %path.display(),
            root_key_id = %provider.key_id,
            created,
            "DEVELOPMENT ROOT KEY: the `file` root key provider keeps the root key on local disk; \
             it is not fit for production (use an HSM through the pkcs11 provider)"
        );
        Ok((provider, created))
    }

    fn from_key(path: PathBuf, key: SecretKey) -> Self {
        // ok: HMAC accepts keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret()).expect("any key length");
        mac.update(b"valv/v1/root-key-id");
        let key_id = hex::encode(&mac.finalize().into_bytes()[..8]);
        // ok: the key is exactly 32 bytes.
        #[allow(clippy::expect_used)]
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key");
        Self {
            path,
            cipher,
            key_id,
        }
    }

    /// Where the key file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves this key's file over `to` (atomically, replacing — and so erasing — the key that was
    /// there) and makes the rename durable. Ends a root-key rotation.
    pub fn promote(mut self, to: &Path) -> Result<Self, KmsError> {
        fs::rename(&self.path, to)?;
        if let Some(dir) = to.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        self.path = to.to_path_buf();
        Ok(self)
    }

    fn aad(context: &str) -> Vec<u8> {
        let mut aad = b"valv/v1/wrap/".to_vec();
        aad.extend_from_slice(context.as_bytes());
        aad
    }
}

impl RootKeyProvider for FileRootKeyProvider {
    fn name(&self) -> &'static str {
        "file"
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
            provider: self.name().to_owned(),
            root_key_id: self.key_id.clone(),
            wrapped_hex: hex::encode(out),
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError> {
        if wrapped.provider != self.name() {
            return Err(KmsError::Provider(format!(
                "key was wrapped by provider `{}`, not `file`",
                wrapped.provider
            )));
        }
        if wrapped.root_key_id != self.key_id {
            return Err(KmsError::Provider(format!(
                "key was wrapped by root key {}, this is root key {}",
                wrapped.root_key_id, self.key_id
            )));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_key_with_mode_0600_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("root.key");
        let (p1, created) =
            FileRootKeyProvider::open_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(created);
        let mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert!(!p1.fit_for_production());
        let secret = SecretKey::generate();
        let wrapped = p1
            .wrap(&secret, "tenant/1/enc/v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !wrapped
                .wrapped_hex
                .contains(&hex::encode(secret.expose_secret()))
        );

        let (p2, created) =
            FileRootKeyProvider::open_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!created);
        assert_eq!(p1.root_key_id(), p2.root_key_id());
        let back = p2
            .unwrap(&wrapped, "tenant/1/enc/v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, secret);
        assert!(matches!(
            p2.unwrap(&wrapped, "tenant/2/enc/v1"),
            Err(KmsError::Decrypt)
        ));
    }

    #[test]
    fn refuses_a_world_readable_key_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("root.key");
        FileRootKeyProvider::open_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            FileRootKeyProvider::open_or_create(&path),
            Err(KmsError::Provider(_))
        ));
    }

    #[test]
    fn another_root_key_cannot_unwrap() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, _) = FileRootKeyProvider::open_or_create(&dir.path().join("a"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (b, _) = FileRootKeyProvider::open_or_create(&dir.path().join("b"))
            .unwrap_or_else(|e| panic!("{e}"));
        let wrapped = a
            .wrap(&SecretKey::generate(), "x")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(b.unwrap(&wrapped, "x").is_err());
    }
}
