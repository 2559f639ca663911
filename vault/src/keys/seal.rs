//! The seal state of a vault started with `valv operator init`: whether a root key is in memory,
//! and the shares received towards unsealing. The use cases that change it are in `ops/seal.rs`.

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use valv_kms::Unsealer;

use crate::{engine::refusals::Refusals, error::VaultResult};

/// The seal of a vault that has a seal file.
pub struct SealState {
    /// The data directory (the first unseal finishes setting it up).
    pub data_dir: PathBuf,
    path: PathBuf,
    sealed: AtomicBool,
    /// Shares received so far (used by the unseal use case).
    pub(crate) unsealer: tokio::sync::Mutex<Unsealer>,
    changed: tokio::sync::watch::Sender<bool>,
    refused: std::sync::Mutex<Refusals>,
}

/// Refused shares allowed per source address and window before its attempts are refused.
pub const REFUSED_SHARES_PER_WINDOW: u32 = 10;
/// The window.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(60);

impl SealState {
    /// A sealed state for the seal file at `path`.
    pub fn new(path: &std::path::Path, data_dir: PathBuf) -> VaultResult<Self> {
        Ok(Self {
            data_dir,
            path: path.to_path_buf(),
            sealed: AtomicBool::new(true),
            unsealer: tokio::sync::Mutex::new(Unsealer::open(path)?),
            changed: tokio::sync::watch::channel(true).0,
            refused: std::sync::Mutex::new(Refusals::new(
                REFUSED_SHARES_PER_WINDOW,
                REFUSAL_WINDOW,
            )),
        })
    }

    /// Reads the seal file again (after new shares replaced the old ones) and forgets shares.
    pub(crate) fn reload(&self, unsealer: &mut Unsealer) -> VaultResult<()> {
        *unsealer = Unsealer::open(&self.path)?;
        Ok(())
    }

    /// Whether `addr` gave too many refused shares in the current window (its attempts are then
    /// refused without looking at them; other addresses are not affected).
    pub(crate) fn throttled(&self, addr: Option<IpAddr>) -> bool {
        let (Some(addr), Ok(refused)) = (addr, self.refused.lock()) else {
            return false;
        };
        refused.blocked(addr, Instant::now())
    }

    /// Counts a refused share from `addr`.
    pub(crate) fn refused_from(&self, addr: Option<IpAddr>) {
        if let (Some(addr), Ok(mut refused)) = (addr, self.refused.lock()) {
            refused.count(addr, Instant::now());
        }
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
