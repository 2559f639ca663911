//! Crypto-shredding a tenant (operator): its key ring is deleted, every call for it is refused
//! from then on, and the root key is rotated at once — so that copies of the deleted key ring
//! that an append-only store may still hold on disk are wrapped under a root key that no longer
//! exists. Whoever holds the current root key and every byte of the store can read nothing of
//! the tenant.

use std::sync::Arc;

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, Role},
};

use super::approval::{self, Outcome};

/// `ShredTenant`: runs now, or files it for a second operator's approval.
pub async fn shred(app: &Arc<App>, caller: &Caller, tenant_name: &str) -> VaultResult<Outcome> {
    caller.require(Role::Operator)?;
    let tenant_id = app
        .store
        .tenant_id_by_name(tenant_name)
        .await?
        .ok_or_else(|| VaultError::NotFound("tenant: no such tenant".into()))?;
    if app.keys.is_shredded(tenant_id) {
        return Err(VaultError::FailedPrecondition(
            "tenant: already shredded".into(),
        ));
    }
    let op = PendingOpRecord {
        id: 0,
        tenant_id: OPERATOR_CHAIN,
        kind: approval::SHRED_TENANT.into(),
        version: 0,
        force: false,
        requested_by: caller.id().to_owned(),
        requested_ms: 0,
        expires_ms: 0,
        state: String::new(),
        approved_by: String::new(),
        target_tenant: tenant_id,
        ..PendingOpRecord::default()
    };
    match approval::file(app, caller, op).await? {
        Some(pending) => Ok(pending),
        None => Ok(Outcome::Done(
            shred_now(app, tenant_id, caller.id(), None, &caller.request_id).await?,
        )),
    }
}

/// Shreds now (after any approval).
pub async fn shred_now(
    app: &Arc<App>,
    tenant_id: u64,
    requested_by: &str,
    approved_by: Option<&str>,
    request_id: &str,
) -> VaultResult<String> {
    // The root key is rotated right after: refused before anything is destroyed if it cannot be.
    if let Some(slot) = app.keys.root_slot()
        && slot.awaiting_new_shares()?.is_some()
    {
        return Err(VaultError::FailedPrecondition(
            "a root-key rotation waits for its new shares to be confirmed; shred after it".into(),
        ));
    }
    let gate = app.keys.gate(tenant_id);
    let exclusive = gate.write().await;
    let mut tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::NotFound("tenant: no such tenant".into()))?;
    let mut entry = audit::entry(app.now_ms(), requested_by, "tenant.shred");
    entry.request_id = request_id.to_owned();
    entry.items = vec![(format!("tenant:{}", tenant.name), "shredded".into())];
    if let Some(approver) = approved_by {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    tenant.shredded_ms = app.now_ms();
    // One unit of work: the tenant is marked and its key ring gone, or neither.
    app.store
        .shred_tenant(tenant_id, tenant.shredded_ms)
        .await?;
    // The embedded store compacts at its next start, so the deleted ring's old bytes leave the
    // log files too (they are wrapped under a root key the rotation below erases anyway).
    app.store.request_compaction().await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("shredding could not be made durable: {e}"))
    })?;
    app.keys.mark_shredded(tenant_id)?;
    drop(exclusive);
    tracing::warn!(tenant = tenant_id, "tenant shredded; rotating the root key");
    // Leftover copies of the deleted key ring die with the old root key.
    let root = super::root::rotate_now(app, requested_by, approved_by, request_id, None)
        .await?
        .root_key_id;
    Ok(format!(
        "tenant {} shredded; root key rotated to {root}; the embedded store compacts at its next start; backups taken before now still hold the tenant under the old root key: destroy them (see docs/keys.md, Shredding a tenant)",
        tenant.name
    ))
}
