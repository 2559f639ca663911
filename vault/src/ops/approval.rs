//! The two-person rule: an operation that destroys data (a key version, a tenant, the root key)
//! or widens who can re-identify (a principal that re-identifies, approves or administers; a
//! purpose that releases more; a record policy that protects less) takes effect only when an
//! independent second principal with the role it needs approves it within the window
//! (`ops::independence` says who counts as independent). Request, approval, refusal and expiry
//! are each audited with what the operation changes. With the rule off, the act runs at once.

use std::sync::Arc;

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, Role},
};

/// Destroying a key version (key officers).
pub const DESTROY_KEY_VERSION: &str = "destroy-key-version";
/// Root-key rotation (operators; tenant 0).
pub const ROTATE_ROOT_KEY: &str = "rotate-root-key";
/// Tenant shredding (operators; tenant 0 is the scope, `target_tenant` the victim).
pub const SHRED_TENANT: &str = "shred-tenant";
/// Creating an operator (operators).
pub const CREATE_OPERATOR: &str = "create-operator";
/// Creating a tenant principal that re-identifies, approves or administers (tenant-admins).
pub const CREATE_PRINCIPAL: &str = "create-principal";
/// Changing a purpose so that it releases more (tenant-admins).
pub const DEFINE_PURPOSE: &str = "define-purpose";
/// Changing a record policy so that it protects less (tenant-admins).
pub const DEFINE_RECORD_POLICY: &str = "define-record-policy";
/// Deleting a record policy (tenant-admins).
pub const DELETE_RECORD_POLICY: &str = "delete-record-policy";
/// Defining a sharing agreement (tenant-admins).
pub const DEFINE_SHARING_AGREEMENT: &str = "define-sharing-agreement";

pub(crate) const PENDING: &str = "pending";
pub(crate) const APPROVED: &str = "approved";
pub(crate) const REFUSED: &str = "refused";
pub(crate) const EXPIRED: &str = "expired";

/// What a request led to.
#[derive(Debug)]
pub enum Outcome {
    /// Done now; a summary.
    Done(String),
    /// Waiting for approval: operation id and deadline.
    Pending(u64, i64),
}

/// The role that requests and approves an operation kind.
pub(crate) fn role_of(kind: &str) -> Role {
    match kind {
        ROTATE_ROOT_KEY | SHRED_TENANT | CREATE_OPERATOR => Role::Operator,
        DESTROY_KEY_VERSION => Role::KeyOfficer,
        _ => Role::TenantAdmin,
    }
}

/// Where a caller may approve: operators the operator scope (0), key officers and tenant-admins
/// their tenant.
pub(crate) fn scope(caller: &Caller) -> VaultResult<u64> {
    if caller.principal.tenant_id.is_none() {
        caller.require(Role::Operator)?;
        return Ok(OPERATOR_CHAIN);
    }
    if caller.require(Role::KeyOfficer).is_err() {
        caller.require(Role::TenantAdmin).map_err(|_| {
            VaultError::PermissionDenied("role key-officer or tenant-admin required".into())
        })?;
    }
    caller.tenant()
}

/// Whether the rule applies to this vault.
pub fn is_on(app: &App) -> bool {
    app.limits.two_person_rule
}

/// Files `op` for approval when the two-person rule is on: `Some(Pending)`; `None` when the rule
/// is off and the caller carries the act out at once itself.
pub async fn file(
    app: &Arc<App>,
    caller: &Caller,
    op: PendingOpRecord,
) -> VaultResult<Option<Outcome>> {
    if !is_on(app) {
        return Ok(None);
    }
    file_now(app, caller, op).await.map(Some)
}

/// Files `op` for approval (the caller decided that it needs one).
pub async fn file_now(
    app: &Arc<App>,
    caller: &Caller,
    mut op: PendingOpRecord,
) -> VaultResult<Outcome> {
    let now = app.now_ms();
    op.id = app.store.next_id().await?;
    op.requested_ms = now;
    op.requested_by = caller.id().to_owned();
    op.expires_ms = now.saturating_add(
        i64::try_from(app.limits.approval_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    op.state = PENDING.into();
    let mut entry = caller.act(now, &format!("{}.request", op.kind));
    entry.counts = vec![("operation".into(), op.id)];
    if op.version > 0 {
        entry.counts.push(("version".into(), u64::from(op.version)));
    }
    entry.changes.clone_from(&op.changes);
    entry.verdict = Some("pending-approval".into());
    app.audit.append(op.tenant_id, entry).await?;
    app.store.put_pending_op(&op).await?;
    app.store
        .sync()
        .await
        .map_err(|e| VaultError::Unavailable(format!("operation could not be filed: {e}")))?;
    Ok(Outcome::Pending(op.id, op.expires_ms))
}

/// Pending operations of the caller's scope that its roles may approve. Overdue ones are marked
/// expired (and audited, once) on the way.
pub async fn list(app: &App, caller: &Caller) -> VaultResult<Vec<PendingOpRecord>> {
    let tenant_id = scope(caller)?;
    let now = app.now_ms();
    let mut out = Vec::new();
    for op in app.store.pending_ops().await? {
        if op.tenant_id != tenant_id || op.state != PENDING {
            continue;
        }
        if op.expires_ms < now {
            expire(app, &op).await?;
        } else if caller.require(role_of(&op.kind)).is_ok() {
            out.push(op);
        }
    }
    Ok(out)
}

/// Marks an overdue operation expired; the one process that wins the transition audits it.
pub(crate) async fn expire(app: &App, op: &PendingOpRecord) -> VaultResult<()> {
    let mut expired = op.clone();
    expired.state = EXPIRED.into();
    if app.store.transition_pending_op(&expired, PENDING).await? {
        let mut entry = audit::entry(
            app.now_ms(),
            &op.requested_by,
            &format!("{}.expire", op.kind),
        );
        entry.counts = vec![("operation".into(), op.id)];
        entry.verdict = Some(EXPIRED.into());
        app.audit.append(op.tenant_id, entry).await?;
    }
    Ok(())
}

/// The pending operation `id` that `caller` may decide on, or NOT_FOUND; the caller holds the
/// role it needs.
pub(crate) async fn find(app: &App, caller: &Caller, id: u64) -> VaultResult<PendingOpRecord> {
    // The role first: a caller who may approve nothing learns nothing about operations.
    let tenant_id = scope(caller)?;
    let not_found = || VaultError::NotFound("id: no such pending operation".into());
    let op = app
        .store
        .pending_ops()
        .await?
        .into_iter()
        .find(|o| o.id == id && o.tenant_id == tenant_id)
        .ok_or_else(not_found)?;
    caller.require(role_of(&op.kind))?;
    if op.state != PENDING {
        return Err(VaultError::FailedPrecondition(format!(
            "id: the operation is {}",
            op.state
        )));
    }
    if app.now_ms() > op.expires_ms {
        expire(app, &op).await?;
        return Err(VaultError::FailedPrecondition(
            "id: the approval window has passed; request the operation again".into(),
        ));
    }
    Ok(op)
}

/// Refuses a pending operation: it never takes effect. Anyone who could approve it may refuse
/// it, its requester included (withdrawing it).
pub async fn refuse(app: &Arc<App>, caller: &Caller, id: u64) -> VaultResult<String> {
    let op = find(app, caller, id).await?;
    let mut refused = op.clone();
    refused.state = REFUSED.into();
    refused.approved_by = caller.id().to_owned();
    if !app.store.transition_pending_op(&refused, PENDING).await? {
        return Err(VaultError::Aborted(
            "id: the operation was decided at the same moment".into(),
        ));
    }
    let mut entry = caller.act(app.now_ms(), &format!("{}.refuse", op.kind));
    entry.counts = vec![("operation".into(), op.id)];
    entry.items = vec![(op.requested_by.clone(), "requested".into())];
    entry.changes.clone_from(&op.changes);
    entry.verdict = Some(REFUSED.into());
    app.audit.append(op.tenant_id, entry).await?;
    app.store.sync().await?;
    Ok(op.kind)
}

/// A one-line description (no identifiers).
pub fn summary(op: &PendingOpRecord) -> String {
    match op.kind.as_str() {
        ROTATE_ROOT_KEY => op.kind.clone(),
        SHRED_TENANT => format!("{} (tenant id {})", op.kind, op.target_tenant),
        DESTROY_KEY_VERSION => format!(
            "{} v{}{}",
            op.kind,
            op.version,
            if op.force { " (forced)" } else { "" }
        ),
        _ => {
            let changes: Vec<String> = op
                .changes
                .iter()
                .map(|(f, b, a)| format!("{f}: {b} → {a}"))
                .collect();
            format!("{} ({})", op.kind, changes.join("; "))
        }
    }
}
