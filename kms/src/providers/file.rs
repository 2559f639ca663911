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
    sync::Arc,
};

use zeroize::Zeroizing;

use super::{RootKeyProvider, RootKeySlot, WrappedKey, local::LocalRootKey};
use crate::{error::KmsError, secret::SecretKey};

/// Root key kept in a local file.
pub struct FileRootKeyProvider {
    path: PathBuf,
    key: LocalRootKey,
}

impl std::fmt::Debug for FileRootKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRootKeyProvider")
            .field("path", &self.path)
            .field("key_id", &self.key.root_key_id())
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
            write_secret_file(path, hex::encode(key.expose_secret()).as_bytes())?;
            true
        };
        let text = read_secret_file(path)?;
        let bytes =
            Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
                KmsError::Provider("root key file is not 64 hex characters".into())
            })?);
        let key = SecretKey::from_slice(&bytes)
            .ok_or_else(|| KmsError::Provider("root key file is not 64 hex characters".into()))?;
        let provider = Self {
            path: path.to_path_buf(),
            key: LocalRootKey::new("file", &key),
        };
        tracing::warn!(
            path = %path.display(),
            root_key_id = %provider.root_key_id(),
            created,
            "DEVELOPMENT ROOT KEY: the `file` root key provider keeps the root key on local disk; \
             it is not fit for production (use an HSM through the pkcs11 provider, or `valv operator init` for a sealed start)"
        );
        Ok((provider, created))
    }

    /// Where the key file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a new secret file with mode 0600 (refusing to replace one) and makes it durable: the
/// file appears whole or not at all, also after a power cut (written and synced under a
/// temporary name, linked to its name — which fails if one exists — and the directory synced).
/// A root key file that vanished or came back empty after a crash would cost everything
/// sealed under it.
pub(crate) fn write_secret_file(path: &Path, body: &[u8]) -> Result<(), KmsError> {
    let staged = sibling(path, ".staged");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)?;
    file.write_all(body)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    let linked = fs::hard_link(&staged, path);
    fs::remove_file(&staged)?;
    linked?;
    sync_dir(path)
}

/// `<file><suffix>` beside `file`.
fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes the directory entries of `file`'s directory durable.
fn sync_dir(file: &Path) -> Result<(), KmsError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads a secret file, refusing one that group or others may read.
pub(crate) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, KmsError> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KmsError::Provider(format!(
            "{} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(Zeroizing::new(fs::read_to_string(path)?))
}

/// Moves `from` over `to` atomically (replacing — and so erasing — what was there) and makes
/// the rename durable.
pub(crate) fn durable_rename(from: &Path, to: &Path) -> Result<(), KmsError> {
    fs::rename(from, to)?;
    sync_dir(to)
}

/// `<file>.next`: where a root-key rotation keeps the incoming key until it is promoted.
pub(crate) fn next_path(file: &Path) -> PathBuf {
    sibling(file, ".next")
}

impl RootKeyProvider for FileRootKeyProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn fit_for_production(&self) -> bool {
        false
    }

    fn root_key_id(&self) -> String {
        self.key.root_key_id()
    }

    fn wrap(&self, secret: &SecretKey, context: &str) -> Result<WrappedKey, KmsError> {
        self.key.wrap(secret, context)
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError> {
        self.key.unwrap(wrapped, context)
    }
}

/// The `file` provider's slot: the key file and, during a rotation, `<file>.next`.
#[derive(Debug)]
pub struct FileRootSlot {
    path: PathBuf,
}

impl FileRootSlot {
    /// The slot of the key file at `path` (created on first use).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

impl RootKeySlot for FileRootSlot {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn current(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        Ok(Arc::new(FileRootKeyProvider::open_or_create(&self.path)?.0))
    }

    fn next(&self, create: bool) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
        let next = next_path(&self.path);
        if !create && !next.exists() {
            return Ok(None);
        }
        Ok(Some(Arc::new(
            FileRootKeyProvider::open_or_create(&next)?.0,
        )))
    }

    fn promote_next(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        durable_rename(&next_path(&self.path), &self.path)?;
        self.current()
    }

    fn key_ids(&self) -> Result<Vec<String>, KmsError> {
        let mut ids = Vec::new();
        for path in [self.path.clone(), next_path(&self.path)] {
            if path.exists() {
                ids.push(FileRootKeyProvider::open_or_create(&path)?.0.root_key_id());
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_key_with_mode_0600_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let (p1, created) = FileRootKeyProvider::open_or_create(&path).unwrap();
        assert!(created);
        let mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert!(!p1.fit_for_production());
        let secret = SecretKey::generate();
        let wrapped = p1.wrap(&secret, "tenant/1/enc/v1").unwrap();
        assert!(
            !wrapped
                .wrapped_hex
                .contains(&hex::encode(secret.expose_secret()))
        );

        let (p2, created) = FileRootKeyProvider::open_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(p1.root_key_id(), p2.root_key_id());
        let back = p2.unwrap(&wrapped, "tenant/1/enc/v1").unwrap();
        assert_eq!(back, secret);
        assert!(matches!(
            p2.unwrap(&wrapped, "tenant/2/enc/v1"),
            Err(KmsError::Decrypt)
        ));
    }

    #[test]
    fn refuses_a_world_readable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        FileRootKeyProvider::open_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            FileRootKeyProvider::open_or_create(&path),
            Err(KmsError::Provider(_))
        ));
    }

    #[test]
    fn another_root_key_cannot_unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = FileRootKeyProvider::open_or_create(&dir.path().join("a")).unwrap();
        let (b, _) = FileRootKeyProvider::open_or_create(&dir.path().join("b")).unwrap();
        let wrapped = a.wrap(&SecretKey::generate(), "x").unwrap();
        assert!(b.unwrap(&wrapped, "x").is_err());
    }
}
