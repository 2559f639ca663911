//! The seal state of a vault started with `valv operator init`: whether a root key is in memory,
//! and the shares received towards unsealing. The use cases that change it are in `ops/seal.rs`.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
};

use valv_kms::Unsealer;

use crate::error::VaultResult;

/// The seal of a vault that has a seal file.
pub struct SealState {
    /// The data directory (the first unseal finishes setting it up).
    pub data_dir: PathBuf,
    path: PathBuf,
    sealed: AtomicBool,
    /// Shares received so far (used by the unseal use case).
    pub(crate) unsealer: tokio::sync::Mutex<Unsealer>,
    changed: tokio::sync::watch::Sender<bool>,
}

impl SealState {
    /// A sealed state for the seal file at `path`.
    pub fn new(path: &std::path::Path, data_dir: PathBuf) -> VaultResult<Self> {
        Ok(Self {
            data_dir,
            path: path.to_path_buf(),
            sealed: AtomicBool::new(true),
            unsealer: tokio::sync::Mutex::new(Unsealer::open(path)?),
            changed: tokio::sync::watch::channel(true).0,
        })
    }

    /// Reads the seal file again (after new shares replaced the old ones) and forgets shares.
    pub(crate) fn reload(&self, unsealer: &mut Unsealer) -> VaultResult<()> {
        *unsealer = Unsealer::open(&self.path)?;
        Ok(())
    }

    /// True while no root key is in memory.
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::SeqCst)
    }

    /// Follows the sealed flag (for health reporting).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.changed.subscribe()
    }

    /// Marks the vault sealed or unsealed and tells the watchers.
    pub(crate) fn set(&self, sealed: bool) {
        self.sealed.store(sealed, Ordering::SeqCst);
        self.changed.send_replace(sealed);
    }
}
