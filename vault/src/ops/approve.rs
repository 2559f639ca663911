//! Approving a pending operation (two-person rule): a second principal with the same role and
//! scope carries out what another requested, once — the approval is claimed in the store before
//! the act runs.

use std::sync::Arc;

use super::{
    approval::{
        APPROVED, DESTROY_KEY_VERSION, PENDING, ROTATE_ROOT_KEY, SHRED_TENANT, role_of, scope,
        summary,
    },
    keys, root, shred,
};
use crate::{
    app::App,
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::PendingOpRecord,
};

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
            shred::shred_now(app, op.target_tenant, requested_by, approved_by, request_id).await
        }
        ROTATE_ROOT_KEY => {
            let id = root::rotate_now(app, requested_by, approved_by, request_id).await?;
            Ok(format!("root key rotated; new root key id {id}"))
        }
        other => Err(VaultError::Internal(format!(
            "unknown operation kind {other}"
        ))),
    }
}
