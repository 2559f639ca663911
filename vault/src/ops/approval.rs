//! The two-person rule: a destructive operation requested by one principal takes effect only when
//! a second principal with the same role (and tenant) approves it within the window. Request,
//! approval and the act itself are each audited. With the rule off, the act runs at once.

use std::sync::Arc;

use crate::{
    app::App,
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, Role},
};

/// Operation kinds.
pub const DESTROY_KEY_VERSION: &str = "destroy-key-version";
/// Root-key rotation (operators; tenant 0).
pub const ROTATE_ROOT_KEY: &str = "rotate-root-key";
/// Tenant shredding (operators; tenant 0 is the scope, `target_tenant` the victim).
pub const SHRED_TENANT: &str = "shred-tenant";

pub(crate) const PENDING: &str = "pending";
pub(crate) const APPROVED: &str = "approved";

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
    if kind == ROTATE_ROOT_KEY || kind == SHRED_TENANT {
        Role::Operator
    } else {
        Role::KeyOfficer
    }
}

/// Where a caller may approve: operators the operator scope (0), key officers their tenant.
pub(crate) fn scope(caller: &Caller) -> VaultResult<u64> {
    if caller.require(Role::Operator).is_ok() {
        return Ok(0);
    }
    caller.tenant_with(Role::KeyOfficer)
}

/// Files `op` for approval when the two-person rule is on: `Some(Pending)`; `None` when the rule
/// is off and the caller carries the act out at once itself.
pub async fn file(
    app: &Arc<App>,
    caller: &Caller,
    mut op: PendingOpRecord,
) -> VaultResult<Option<Outcome>> {
    if !app.limits.two_person_rule {
        return Ok(None);
    }
    let now = app.now_ms();
    op.id = app.store.next_id().await?;
    op.requested_ms = now;
    op.expires_ms = now.saturating_add(
        i64::try_from(app.limits.approval_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    op.state = PENDING.into();
    let mut entry = caller.act(now, &format!("{}.request", op.kind));
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
    Ok(Some(Outcome::Pending(op.id, op.expires_ms)))
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
