//! Opening a data directory: root key, store, and on first start the operator principal.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use valv_kms::{FileRootKeyProvider, RootKeyProvider, TenantKeys};

use crate::{
    app::{App, Limits},
    audit::OPERATOR_CHAIN,
    engine::clock::Clock,
    ops::admin::new_principal,
    store::{Store, records::Role, sled::SledStore},
};

/// Where the first operator token is written (mode 0600) on first start.
pub fn operator_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token")
}

/// Opens (or initialises) the data directory and builds the application state.
pub async fn open(
    data_dir: &Path,
    root_key_file: Option<&Path>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    checkpoint_entries: u64,
    store: Option<Arc<dyn Store>>,
) -> anyhow::Result<Arc<App>> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))?;
    let root_path = root_key_file.map_or_else(|| data_dir.join("root.key"), Path::to_path_buf);
    let (root, _) = FileRootKeyProvider::open_or_create(&root_path)?;
    let root: Arc<dyn RootKeyProvider> = Arc::new(root);
    let store: Arc<dyn Store> = match store {
        Some(s) => s,
        None => Arc::new(SledStore::open(&data_dir.join("store"))?),
    };
    let app = Arc::new(App::new(store, root, clock, limits, checkpoint_entries));
    app.set_root(app.root(), Some(root_path.clone()));
    // A root-key rotation cut off by a crash is finished before anything else.
    crate::ops::root::finish_interrupted(&app).await?;
    ensure_operator_chain_keys(&app).await?;
    for tenant in app.store.tenants().await? {
        if tenant.shredded_ms != 0 {
            app.mark_shredded(tenant.id)?;
        }
    }
    ensure_operator(&app, data_dir).await?;
    Ok(app)
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
