//! Root-key rotation (operator): every key ring is re-wrapped under a fresh root key, after
//! which the old root key is gone — the provider's slot erases it (the file and sealed
//! providers rename the new key's file over the old one; the pkcs11 provider destroys the old
//! key object in the token). Crash-safe: the new key is made beside the old one first
//! (`<file>.next`, or a token key labelled `<label>.next`); a vault that starts and finds it
//! finishes the rotation (key rings are told apart by the root key id that wrapped them) before
//! it serves anything.

use std::sync::Arc;

use valv_kms::{Rewrapping, RootKeyProvider, TenantKeys};

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    error::{VaultError, VaultResult},
};

/// Re-wraps every key ring under `new` (unwrapping each secret with whichever key wrapped it)
/// and makes that durable. Returns how many key rings were re-wrapped.
async fn rewrap_all(
    app: &App,
    old: &dyn RootKeyProvider,
    new: &dyn RootKeyProvider,
) -> VaultResult<u64> {
    let both = Rewrapping { old, new };
    let mut n = 0;
    for mut wrapped in app.store.all_tenant_keys().await? {
        // Compare-and-swap: a ring another node changed meanwhile is read again and re-wrapped.
        loop {
            let keys = TenantKeys::unwrap(&wrapped, &both)?;
            if app
                .store
                .replace_tenant_keys(&wrapped, &keys.wrap(new)?)
                .await?
            {
                n += 1;
                break;
            }
            match app.store.tenant_keys(wrapped.tenant_id).await? {
                Some(now) => wrapped = now,
                None => break, // shredded meanwhile
            }
        }
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
    let slot = app.keys.root_slot().ok_or_else(|| {
        VaultError::FailedPrecondition("the vault is sealed; unseal it first".into())
    })?;
    let exclusive = app.keys.root_change().await;
    let old = app.keys.root();
    let next = slot
        .next(true)?
        .ok_or_else(|| VaultError::Internal("the root key slot made no next key".into()))?;
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
    let rings = rewrap_all(app, old.as_ref(), next.as_ref()).await?;
    drop(next);
    let current = slot.promote_next()?;
    let id = current.root_key_id();
    app.keys.set_root(current, Some(slot));
    drop(exclusive);
    tracing::warn!(root_key_id = %id, rings, "root key rotated; the previous root key is erased");
    Ok(id)
}

/// Finishes a root-key rotation that a crash cut off (at start, before serving).
pub async fn finish_interrupted(app: &App) -> VaultResult<()> {
    let Some(slot) = app.keys.root_slot() else {
        return Ok(());
    };
    let Some(new) = slot.next(false)? else {
        return Ok(());
    };
    tracing::warn!(root = %slot.describe(), "finishing an interrupted root-key rotation");
    let old = app.keys.root();
    let mut entry = audit::entry(app.now_ms(), "valv", "root.rotate.resumed");
    entry.items = vec![(format!("root-key:{}", new.root_key_id()), "active".into())];
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    rewrap_all(app, old.as_ref(), new.as_ref()).await?;
    drop(new);
    let current = slot.promote_next()?;
    app.keys.set_root(current, Some(slot));
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
        ..Default::default()
    };
    match super::approval::file(app, caller, op).await? {
        Some(pending) => Ok(pending),
        None => {
            let id = rotate_now(app, caller.id(), None, &caller.request_id).await?;
            Ok(super::approval::Outcome::Done(format!(
                "root key rotated; new root key id {id}"
            )))
        }
    }
}
