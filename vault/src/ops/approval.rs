//! The two-person rule: a destructive operation requested by one principal takes effect only when
//! a second principal with the same role (and tenant) approves it within the window. Request,
//! approval and the act itself are each audited. With the rule off, the act runs at once.

use std::sync::Arc;

use crate::{
    app::App,
    audit,
    authz::Caller,
    error::{VaultError, VaultResult},
    ops::keys,
    store::records::{PendingOpRecord, Role},
};

/// Operation kinds.
pub const DESTROY_KEY_VERSION: &str = "destroy-key-version";
/// Root-key rotation (operators; tenant 0).
pub const ROTATE_ROOT_KEY: &str = "rotate-root-key";
/// Tenant shredding (operators; tenant 0 is the scope, `target_tenant` the victim).
pub const SHRED_TENANT: &str = "shred-tenant";

const PENDING: &str = "pending";
const APPROVED: &str = "approved";

/// What a request led to.
#[derive(Debug)]
pub enum Outcome {
    /// Done now; a summary.
    Done(String),
    /// Waiting for approval: operation id and deadline.
    Pending(u64, i64),
}

/// The role that requests and approves an operation kind.
fn role_of(kind: &str) -> Role {
    if kind == ROTATE_ROOT_KEY || kind == SHRED_TENANT {
        Role::Operator
    } else {
        Role::KeyOfficer
    }
}

/// Where a caller may approve: operators the operator scope (0), key officers their tenant.
fn scope(caller: &Caller) -> VaultResult<u64> {
    if caller.require(Role::Operator).is_ok() {
        return Ok(0);
    }
    caller.tenant_with(Role::KeyOfficer)
}

/// Runs `op` now, or files it for approval when the two-person rule is on.
pub async fn request_or_run(
    app: &Arc<App>,
    caller: &Caller,
    mut op: PendingOpRecord,
) -> VaultResult<Outcome> {
    if !app.limits.two_person_rule {
        let summary = execute(app, &op, caller.id(), None, &caller.request_id).await?;
        return Ok(Outcome::Done(summary));
    }
    let now = app.now_ms();
    op.id = app.store.next_id().await?;
    op.requested_ms = now;
    op.expires_ms = now.saturating_add(
        i64::try_from(app.limits.approval_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    op.state = PENDING.into();
    let mut entry = audit::act(now, caller, &format!("{}.request", op.kind));
    entry.counts = vec![
        ("operation".into(), op.id),
        ("version".into(), u64::from(op.version)),
    ];
    entry.verdict = Some("pending-approval".into());
    app.audit.append(op.tenant_id, entry).await?;
    app.store.put_pending_op(&op).await?;
    app.store
        .sync()
        .await
        .map_err(|e| VaultError::Unavailable(format!("operation could not be filed: {e}")))?;
    Ok(Outcome::Pending(op.id, op.expires_ms))
}

/// Approves another principal's pending operation, which then takes effect.
pub async fn approve(app: &Arc<App>, caller: &Caller, id: u64) -> VaultResult<(String, String)> {
    // The role first: a caller who may approve nothing learns nothing about operations.
    let tenant_id = scope(caller)?;
    let not_found = || VaultError::NotFound("id: no such pending operation".into());
    let mut op = app
        .store
        .pending_ops()
        .await?
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(not_found)?;
    if op.tenant_id != tenant_id {
        return Err(not_found());
    }
    caller.require(role_of(&op.kind))?;
    if op.state != PENDING {
        return Err(VaultError::FailedPrecondition(format!(
            "id: the operation is {}",
            op.state
        )));
    }
    if op.requested_by == caller.id() {
        return Err(VaultError::PermissionDenied(
            "two-person rule: a second principal must approve".into(),
        ));
    }
    if app.now_ms() > op.expires_ms {
        op.state = "expired".into();
        app.store.put_pending_op(&op).await?;
        return Err(VaultError::FailedPrecondition(
            "id: the approval window has passed; request the operation again".into(),
        ));
    }
    // Claim the approval first (atomic in the store): of two approvers, in this process or
    // another, exactly one carries the operation out. A failed execution hands it back.
    let mut approved = op.clone();
    approved.state = APPROVED.into();
    approved.approved_by = caller.id().to_owned();
    if !app.store.transition_pending_op(&approved, PENDING).await? {
        return Err(VaultError::Aborted(
            "id: another principal approved the operation at the same moment".into(),
        ));
    }
    let summary = match execute(
        app,
        &op,
        &op.requested_by,
        Some(caller.id()),
        &caller.request_id,
    )
    .await
    {
        Ok(summary) => summary,
        Err(e) => {
            app.store.transition_pending_op(&op, APPROVED).await?;
            return Err(e);
        }
    };
    app.store.sync().await?;
    let op = approved;
    Ok((op.kind, summary))
}

/// Pending operations of the caller's tenant.
pub async fn list(app: &App, caller: &Caller) -> VaultResult<Vec<PendingOpRecord>> {
    let tenant_id = scope(caller)?;
    let now = app.now_ms();
    Ok(app
        .store
        .pending_ops()
        .await?
        .into_iter()
        .filter(|o| o.tenant_id == tenant_id && o.state == PENDING && o.expires_ms >= now)
        .collect())
}

/// A one-line description (no identifiers).
pub fn summary(op: &PendingOpRecord) -> String {
    if op.kind == ROTATE_ROOT_KEY {
        return op.kind.clone();
    }
    if op.kind == SHRED_TENANT {
        return format!("{} (tenant id {})", op.kind, op.target_tenant);
    }
    format!(
        "{} v{}{}",
        op.kind,
        op.version,
        if op.force { " (forced)" } else { "" }
    )
}

async fn execute(
    app: &Arc<App>,
    op: &PendingOpRecord,
    requested_by: &str,
    approved_by: Option<&str>,
    request_id: &str,
) -> VaultResult<String> {
    match op.kind.as_str() {
        DESTROY_KEY_VERSION => {
            keys::destroy_now(app, op, requested_by, approved_by, request_id).await?;
            Ok(summary(op))
        }
        SHRED_TENANT => {
            super::shred::shred_now(app, op.target_tenant, requested_by, approved_by, request_id)
                .await
        }
        ROTATE_ROOT_KEY => {
            let id = super::root::rotate_now(app, requested_by, approved_by, request_id).await?;
            Ok(format!("root key rotated; new root key id {id}"))
        }
        other => Err(VaultError::Internal(format!(
            "unknown operation kind {other}"
        ))),
    }
}
