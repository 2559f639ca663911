//! Approving a pending operation (two-person rule): an independent second principal with the
//! role the operation needs carries out what another requested, once — the approval is claimed in
//! the store before the act runs, so of two approvers on any nodes exactly one carries it out.

use std::sync::Arc;

use super::{
    admin,
    approval::{
        APPROVED, CREATE_OPERATOR, CREATE_PRINCIPAL, DEFINE_PURPOSE, DEFINE_RECORD_POLICY,
        DEFINE_SHARING_AGREEMENT, DELETE_RECORD_POLICY, DESTROY_KEY_VERSION, PENDING,
        ROTATE_ROOT_KEY, SHRED_TENANT, find, summary,
    },
    independence, keys, policies, principals, root, sharing, shred,
};
use crate::{
    app::App,
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::PendingOpRecord,
};

/// What an approval carried out.
pub struct Approved {
    /// The operation kind.
    pub kind: String,
    /// What was done, in words (no identifiers).
    pub summary: String,
    /// New unseal shares of a root-key rotation that replaced them (shown once).
    pub new_shares: Vec<zeroize::Zeroizing<String>>,
}

/// Approves another principal's pending operation, which then takes effect.
pub async fn approve(app: &Arc<App>, caller: &Caller, id: u64) -> VaultResult<Approved> {
    let op = find(app, caller, id).await?;
    independence::check(app, &op, &caller.principal).await?;
    let mut approved = op.clone();
    approved.state = APPROVED.into();
    approved.approved_by = caller.id().to_owned();
    if !app.store.transition_pending_op(&approved, PENDING).await? {
        return Err(VaultError::Aborted(
            "id: another principal decided on the operation at the same moment".into(),
        ));
    }
    let (summary, new_shares) = match execute(app, &op, caller).await {
        Ok(done) => done,
        Err(e) => {
            // A failed execution hands the operation back for another try.
            app.store.transition_pending_op(&op, APPROVED).await?;
            return Err(e);
        }
    };
    app.store.sync().await?;
    Ok(Approved {
        kind: op.kind,
        summary,
        new_shares,
    })
}

async fn execute(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<(String, Vec<zeroize::Zeroizing<String>>)> {
    if op.kind == ROTATE_ROOT_KEY {
        let new_shares = match op.payload.as_str() {
            "" => None,
            p => Some(
                serde_json::from_str::<root::NewShares>(p)
                    .map_err(|e| VaultError::Internal(format!("pending rotation: {e}")))?,
            ),
        };
        let r = root::rotate_now(
            app,
            &op.requested_by,
            Some(approver.id()),
            &approver.request_id,
            new_shares,
        )
        .await?;
        let summary = format!("root key rotated; new root key id {}", r.root_key_id);
        return Ok((summary, r.new_shares));
    }
    execute_other(app, op, approver)
        .await
        .map(|s| (s, Vec::new()))
}

async fn execute_other(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<String> {
    let requested_by = op.requested_by.as_str();
    let approved_by = Some(approver.id());
    let request_id = approver.request_id.as_str();
    match op.kind.as_str() {
        DESTROY_KEY_VERSION => {
            keys::destroy_now(app, op, requested_by, approved_by, request_id).await?;
            Ok(summary(op))
        }
        SHRED_TENANT => {
            shred::shred_now(app, op.target_tenant, requested_by, approved_by, request_id).await
        }
        CREATE_OPERATOR | CREATE_PRINCIPAL => principals::create_approved(app, op, approver).await,
        DEFINE_PURPOSE => admin::define_purpose_approved(app, op, approver).await,
        DEFINE_RECORD_POLICY | DELETE_RECORD_POLICY => {
            policies::policy_approved(app, op, approver).await
        }
        DEFINE_SHARING_AGREEMENT => sharing::define_approved(app, op, approver).await,
        other => Err(VaultError::Internal(format!(
            "unknown operation kind {other}"
        ))),
    }
}
