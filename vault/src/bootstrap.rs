//! Opening a data directory: root key (file, sealed or PKCS#11), store, and on first start the
//! operator principal.

use std::{
    fs::{self},
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::Arc,
};

use anyhow::Context;
use valv_kms::{FileRootSlot, Pkcs11Slot, RootKeySlot, providers::sealed::SEAL_FILE};

use crate::{
    config::RootConfig,
    engine::clock::Clock,
    keys::seal::SealState,
    store::{Store, sled::SledStore},
    {app::App, config::Limits},
};

pub use crate::ops::setup::operator_token_path;

/// Where the vault's records live.
pub enum StoreChoice {
    /// A store opened by the caller (PostgreSQL, or one a test shares between nodes).
    Given(Arc<dyn Store>),
    /// The embedded store in `<data-dir>/store`, opened with these options.
    Embedded(crate::store::sled::SledOptions),
}

/// Opens (or initialises) the data directory and builds the application state: unsealed and
/// ready for a `file` or `pkcs11` root key, sealed (waiting for shares) when the data
/// directory holds a seal file.
pub async fn open(
    data_dir: &Path,
    root: &RootConfig,
    clock: Arc<dyn Clock>,
    limits: Limits,
    checkpoint_entries: u64,
    store: StoreChoice,
    node_id: Option<String>,
) -> anyhow::Result<Arc<App>> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
    // Job kinds whose work is a use case resume through the job sweeper.
    crate::ops::retention::register();
    let seal_path = data_dir.join(SEAL_FILE);
    let (slot, seal): (Option<Arc<dyn RootKeySlot>>, Option<SealState>) = match root {
        RootConfig::Pkcs11(_) if seal_path.exists() => anyhow::bail!(
            "{} was set up for a sealed start (it has a seal file); it cannot also use a PKCS#11 root key",
            data_dir.display()
        ),
        RootConfig::Pkcs11(config) => (Some(Arc::new(Pkcs11Slot::open(config.clone())?)), None),
        RootConfig::File(_) if seal_path.exists() => {
            if data_dir.join("root.key").exists() {
                anyhow::bail!(
                    "{} holds both a seal file and a plain root key file; remove the one that is not in use",
                    data_dir.display()
                );
            }
            (
                None,
                Some(SealState::new(&seal_path, data_dir.to_path_buf())?),
            )
        }
        RootConfig::File(key_file) => {
            let path = key_file
                .clone()
                .unwrap_or_else(|| data_dir.join("root.key"));
            (Some(Arc::new(FileRootSlot::new(path))), None)
        }
    };
    let store: Arc<dyn Store> = match store {
        StoreChoice::Given(s) => s,
        StoreChoice::Embedded(options) => {
            let dir = data_dir.join("store");
            // Deleted data (erasures, retention) leaves the store files for good here.
            if let Some((before, after)) = crate::store::sled::compact::compact_if_wanted(&dir)? {
                tracing::info!(
                    before,
                    after,
                    "store compacted: deleted data removed from its files"
                );
            }
            Arc::new(SledStore::open_with(&dir, options)?)
        }
    };
    // Each store call its own span, while there is a collector to send them to.
    let store: Arc<dyn Store> = if crate::observe::traces::exporting() {
        Arc::new(crate::store::traced::Traced::new(store))
    } else {
        store
    };
    let mut app = App::new(store, slot, seal, clock, limits, checkpoint_entries)?;
    app.node_id = node_id.unwrap_or_else(|| crate::app::default_node_id(data_dir));
    let app = Arc::new(app);
    for tenant in app.store.tenants().await? {
        if tenant.shredded_ms != 0 {
            app.keys.mark_shredded(tenant.id)?;
        }
    }
    if let Some(seal) = &app.seal {
        let status = crate::ops::seal::status(&app).await;
        tracing::warn!(
            threshold = status.threshold,
            shares = status.shares,
            data_dir = %seal.data_dir.display(),
            "starting SEALED: no key is in memory; {} of the {} key shares unseal it (valvctl unseal)",
            status.threshold,
            status.shares
        );
    } else {
        tracing::info!(root = %app.keys.root_slot().map(|s| s.describe()).unwrap_or_default(), "root key loaded");
        crate::ops::setup::after_unseal(&app, data_dir).await?;
    }
    Ok(app)
}

/// `valv operator init`: deals the key shares of a new sealed data directory. Prints nothing;
/// the caller shows the shares once.
pub fn init_sealed(
    data_dir: &Path,
    shares: u8,
    threshold: u8,
) -> anyhow::Result<Vec<zeroize::Zeroizing<String>>> {
    if data_dir.join("root.key").exists() || data_dir.join("store").exists() {
        anyhow::bail!(
            "{} is already in use (it has a root key or a store); `operator init` sets up a new data directory",
            data_dir.display()
        );
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
    Ok(valv_kms::providers::sealed::init(
        &data_dir.join(SEAL_FILE),
        shares,
        threshold,
    )?)
}
