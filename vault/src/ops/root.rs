//! Root-key rotation (operator): every key ring is re-wrapped under a fresh root key, after
//! which the old root key is gone — the file provider renames the new key's file over the old
//! one. Crash-safe: the new key is written to `<root file>.next` first; a vault that starts and
//! finds that file finishes the rotation (key rings are told apart by the root key id that
//! wrapped them) before it serves anything.

use std::{path::PathBuf, sync::Arc};

use valv_kms::{FileRootKeyProvider, Rewrapping, RootKeyProvider, TenantKeys};

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    error::{VaultError, VaultResult},
};

fn next_path(file: &std::path::Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

/// Re-wraps every key ring under `new` (unwrapping each secret with whichever key wrapped it)
/// and makes that durable. Returns how many key rings were re-wrapped.
async fn rewrap_all(
    app: &App,
    old: &dyn RootKeyProvider,
    new: &dyn RootKeyProvider,
) -> VaultResult<u64> {
    let both = Rewrapping { old, new };
    let mut n = 0;
    for wrapped in app.store.all_tenant_keys().await? {
        let keys = TenantKeys::unwrap(&wrapped, &both)?;
        app.store.put_tenant_keys(&keys.wrap(new)?).await?;
        n += 1;
    }
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!(
            "re-wrapped key rings could not be made durable: {e}"
        ))
    })?;
    Ok(n)
}

/// Rotates the root key now (after any approval). `requested_by` and `approved_by` name who.
pub async fn rotate_now(
    app: &Arc<App>,
    requested_by: &str,
    approved_by: Option<&str>,
    request_id: &str,
) -> VaultResult<String> {
    let file = app.root_file().ok_or_else(|| {
        VaultError::FailedPrecondition("this root key provider cannot rotate its key here".into())
    })?;
    let exclusive = app.root_change.write().await;
    let old = app.root();
    let (next, _) = FileRootKeyProvider::open_or_create(&next_path(&file))?;
    let mut entry = audit::entry(app.now_ms(), requested_by, "root.rotate");
    entry.request_id = request_id.to_owned();
    entry.items = vec![
        (format!("root-key:{}", old.root_key_id()), "replaced".into()),
        (format!("root-key:{}", next.root_key_id()), "active".into()),
    ];
    if let Some(approver) = approved_by {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    let rings = rewrap_all(app, old.as_ref(), &next).await?;
    let next = next.promote(&file)?;
    let id = next.root_key_id();
    app.set_root(Arc::new(next), Some(file));
    drop(exclusive);
    tracing::warn!(root_key_id = %id, rings, "root key rotated; the previous root key is erased");
    Ok(id)
}

/// Finishes a root-key rotation that a crash cut off (at start, before serving).
pub async fn finish_interrupted(app: &App) -> VaultResult<()> {
    let Some(file) = app.root_file() else {
        return Ok(());
    };
    let next = next_path(&file);
    if !next.exists() {
        return Ok(());
    }
    tracing::warn!(file = %next.display(), "finishing an interrupted root-key rotation");
    let (new, _) = FileRootKeyProvider::open_or_create(&next)?;
    let old = app.root();
    let mut entry = audit::entry(app.now_ms(), "valv", "root.rotate.resumed");
    entry.items = vec![(format!("root-key:{}", new.root_key_id()), "active".into())];
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    rewrap_all(app, old.as_ref(), &new).await?;
    let new = new.promote(&file)?;
    app.set_root(Arc::new(new), Some(file));
    Ok(())
}

/// `RotateRootKey` for an operator: runs now, or files it for a second operator's approval.
pub async fn rotate(
    app: &Arc<App>,
    caller: &crate::authz::Caller,
) -> VaultResult<super::approval::Outcome> {
    caller.require(crate::store::records::Role::Operator)?;
    let op = crate::store::records::PendingOpRecord {
        id: 0,
        tenant_id: OPERATOR_CHAIN,
        kind: super::approval::ROTATE_ROOT_KEY.into(),
        version: 0,
        force: false,
        requested_by: caller.id().to_owned(),
        requested_ms: 0,
        expires_ms: 0,
        state: String::new(),
        approved_by: String::new(),
        target_tenant: 0,
    };
    super::approval::request_or_run(app, caller, op).await
}
