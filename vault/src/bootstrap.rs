//! Opening a data directory: root key (file, sealed or PKCS#11), store, and on first start the
//! operator principal.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use valv_kms::{FileRootSlot, Pkcs11Slot, RootKeySlot, TenantKeys, providers::sealed::SEAL_FILE};

use crate::{
    app::{App, Limits},
    audit::OPERATOR_CHAIN,
    config::RootConfig,
    engine::clock::Clock,
    ops::admin::new_principal,
    ops::seal::SealState,
    store::{Store, records::Role, sled::SledStore},
};

/// Where the first operator token is written (mode 0600) on first start.
pub fn operator_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token")
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
    store: Option<Arc<dyn Store>>,
) -> anyhow::Result<Arc<App>> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
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
        Some(s) => s,
        None => {
            let dir = data_dir.join("store");
            // Deleted data (erasures, retention) leaves the store files for good here.
            if let Some((before, after)) = crate::store::sled::compact::compact_if_wanted(&dir)? {
                tracing::info!(
                    before,
                    after,
                    "store compacted: deleted data removed from its files"
                );
            }
            Arc::new(SledStore::open(&dir)?)
        }
    };
    let app = Arc::new(App::new(
        store,
        slot,
        seal,
        clock,
        limits,
        checkpoint_entries,
    )?);
    for tenant in app.store.tenants().await? {
        if tenant.shredded_ms != 0 {
            app.mark_shredded(tenant.id)?;
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
        tracing::info!(root = %app.root_slot().map(|s| s.describe()).unwrap_or_default(), "root key loaded");
        after_unseal(&app, data_dir).await?;
    }
    Ok(app)
}

/// What needs the root key at start: finishing a root-key rotation a crash cut off, the
/// operator chain's key ring and, on an empty store, the first operator. Runs at start, or at
/// the first unseal of a sealed vault.
pub async fn after_unseal(app: &App, data_dir: &Path) -> anyhow::Result<()> {
    // A root-key rotation cut off by a crash is finished before anything else.
    crate::ops::root::finish_interrupted(app).await?;
    ensure_operator_chain_keys(app).await?;
    ensure_operator(app, data_dir).await?;
    Ok(())
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

/// The operator audit chain (0) signs its checkpoints with a key ring of its own, made once.
async fn ensure_operator_chain_keys(app: &App) -> anyhow::Result<()> {
    if app.store.tenant_keys(OPERATOR_CHAIN).await?.is_none() {
        let keys = TenantKeys::generate(OPERATOR_CHAIN, app.now_ms());
        app.store
            .put_tenant_keys(&keys.wrap(app.root().as_ref())?)
            .await?;
        app.store.sync().await?;
    }
    Ok(())
}

/// On an empty store, creates the first operator and writes its token to a 0600 file.
async fn ensure_operator(app: &App, data_dir: &Path) -> anyhow::Result<()> {
    if !app.store.list_principals(None).await?.is_empty() {
        return Ok(());
    }
    let (principal, token) =
        new_principal(app, None, "operator", vec![Role::Operator], vec![], None)
            .await
            .map_err(|e| anyhow::anyhow!("creating the first operator: {e}"))?;
    let path = operator_token_path(data_dir);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.expose_secret())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    app.store.sync().await?;
    tracing::warn!(
        path = %path.display(),
        principal = %principal.id,
        "first start: created the operator principal; its bearer token is in this file (mode 0600), shown nowhere else"
    );
    Ok(())
}
