//! Record policies: which fields of a JSON record hold identifiers of which domain, and which
//! fields are dropped (tenant-admin). A change that protects less — a field no longer
//! pseudonymised, moved to another domain or no longer required, a dropped field kept, the policy
//! deleted — waits for a second tenant-admin under the two-person rule; one that protects more
//! takes effect at once. `ops::records` applies the policies.

use std::sync::Arc;

use super::approval::{self, DEFINE_RECORD_POLICY, DELETE_RECORD_POLICY, Outcome};
use crate::{
    app::App,
    authz::Caller,
    engine::{names::check_name, record::Pattern, widening},
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, RecordFieldRecord, RecordPolicyRecord, Role},
};

/// Most identifier fields, and most dropped fields, in one policy.
pub const MAX_POLICY_FIELDS: usize = 256;

/// What defining or deleting a record policy led to.
#[derive(Debug)]
pub struct PolicyChanged {
    /// The policy as stored now (None: none of that name).
    pub policy: Option<RecordPolicyRecord>,
    /// Whether there was none before.
    pub created: bool,
    /// Waiting for a second tenant-admin: operation id and deadline.
    pub pending: Option<(u64, i64)>,
    /// What the act changes.
    pub changes: Vec<widening::Change>,
}

/// Creates or replaces a record policy (tenant-admin). Every pointer and domain is checked. A
/// change that protects less waits for a second tenant-admin under the two-person rule.
pub async fn define_policy(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    fields: Vec<RecordFieldRecord>,
    drop: Vec<String>,
) -> VaultResult<PolicyChanged> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    check_name(name).map_err(|rule| VaultError::invalid("policy.name", rule))?;
    if fields.is_empty() && drop.is_empty() {
        return Err(VaultError::invalid(
            "policy.fields",
            "a policy needs at least one field or one dropped field",
        ));
    }
    if fields.len() > MAX_POLICY_FIELDS || drop.len() > MAX_POLICY_FIELDS {
        return Err(VaultError::invalid(
            "policy.fields",
            "at most 256 fields and 256 dropped fields",
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        Pattern::parse(&f.pointer)
            .map_err(|rule| VaultError::invalid(format!("policy.fields[{i}].pointer"), rule))?;
        if fields[..i].iter().any(|g| g.pointer == f.pointer) {
            return Err(VaultError::invalid(
                format!("policy.fields[{i}].pointer"),
                "each pointer at most once",
            ));
        }
        if app.domain(tenant_id, &f.domain).await?.is_none() {
            return Err(VaultError::invalid(
                format!("policy.fields[{i}].domain"),
                "no such domain in this tenant",
            ));
        }
    }
    for (i, d) in drop.iter().enumerate() {
        Pattern::parse(d).map_err(|rule| VaultError::invalid(format!("policy.drop[{i}]"), rule))?;
        if fields.iter().any(|f| &f.pointer == d) {
            return Err(VaultError::invalid(
                format!("policy.drop[{i}]"),
                "a field cannot be both pseudonymised and dropped",
            ));
        }
    }
    let now = app.now_ms();
    let existing = app.record_policy(tenant_id, name).await?;
    let policy = RecordPolicyRecord {
        tenant_id,
        name: name.to_owned(),
        fields,
        drop,
        updated_ms: now,
        mac: String::new(),
    };
    let review = widening::policy(existing.as_ref(), Some(&policy));
    let created = existing.is_none();
    if review.widens && approval::is_on(app) {
        let pending = file(app, caller, DEFINE_RECORD_POLICY, &policy, &review).await?;
        return Ok(PolicyChanged {
            policy: existing,
            created,
            pending: Some(pending),
            changes: review.changes,
        });
    }
    store_policy(
        app,
        caller.id(),
        &caller.request_id,
        &policy,
        &review.changes,
        None,
    )
    .await?;
    Ok(PolicyChanged {
        policy: Some(policy),
        created,
        pending: None,
        changes: review.changes,
    })
}

async fn file(
    app: &Arc<App>,
    caller: &Caller,
    kind: &str,
    policy: &RecordPolicyRecord,
    review: &widening::Review,
) -> VaultResult<(u64, i64)> {
    let op = PendingOpRecord {
        tenant_id: policy.tenant_id,
        kind: kind.into(),
        payload: serde_json::to_string(policy)
            .map_err(|e| VaultError::Internal(format!("record policy: {e}")))?,
        changes: review.changes.clone(),
        ..PendingOpRecord::default()
    };
    match approval::file_now(app, caller, op).await? {
        Outcome::Pending(id, until) => Ok((id, until)),
        Outcome::Done(_) => Err(VaultError::Internal("filed operation done".into())),
    }
}

/// Stores `policy` and audits it.
async fn store_policy(
    app: &App,
    principal: &str,
    request_id: &str,
    policy: &RecordPolicyRecord,
    changes: &[widening::Change],
    approver: Option<&str>,
) -> VaultResult<()> {
    app.put_record_policy(policy).await?;
    let (tenant_id, name) = (policy.tenant_id, policy.name.as_str());
    let action = "record-policy.define";
    audit_policy(
        app, principal, request_id, tenant_id, name, action, changes, approver,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn audit_policy(
    app: &App,
    principal: &str,
    request_id: &str,
    tenant_id: u64,
    name: &str,
    action: &str,
    changes: &[widening::Change],
    approver: Option<&str>,
) -> VaultResult<()> {
    let mut entry = crate::audit::entry(app.now_ms(), principal, action);
    entry.request_id = request_id.to_owned();
    entry.items = vec![(
        name.to_owned(),
        if action.ends_with("delete") {
            "deleted"
        } else {
            "defined"
        }
        .into(),
    )];
    if let Some(approver) = approver {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    entry.changes = changes.to_vec();
    app.audit.record(tenant_id, entry).await
}

/// Carries out an approved policy change or deletion.
pub(crate) async fn policy_approved(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<String> {
    let policy: RecordPolicyRecord = serde_json::from_str(&op.payload)
        .map_err(|e| VaultError::Internal(format!("pending record policy: {e}")))?;
    if policy.tenant_id != op.tenant_id {
        return Err(VaultError::Internal(
            "pending policy of another tenant".into(),
        ));
    }
    let request_id = approver.request_id.as_str();
    if op.kind == DELETE_RECORD_POLICY {
        if !app
            .store
            .delete_record_policy(policy.tenant_id, &policy.name)
            .await?
        {
            return Err(VaultError::FailedPrecondition(
                "name: the record policy is gone already".into(),
            ));
        }
        let action = "record-policy.delete";
        audit_policy(
            app,
            &op.requested_by,
            request_id,
            policy.tenant_id,
            &policy.name,
            action,
            &op.changes,
            Some(approver.id()),
        )
        .await?;
        return Ok(format!("record policy {} deleted", policy.name));
    }
    let mut policy = policy;
    policy.updated_ms = app.now_ms();
    let approved_by = Some(approver.id());
    store_policy(
        app,
        &op.requested_by,
        request_id,
        &policy,
        &op.changes,
        approved_by,
    )
    .await?;
    Ok(format!("record policy {} changed", policy.name))
}

/// The tenant's record policies (tenant-admin).
pub async fn list_policies(
    app: &Arc<App>,
    caller: &Caller,
) -> VaultResult<Vec<RecordPolicyRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.record_policies(tenant_id).await
}

/// Deletes a record policy (tenant-admin); under the two-person rule once a second tenant-admin
/// approves. `Some((id, deadline))` when it waits.
pub async fn delete_policy(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
) -> VaultResult<Option<(u64, i64)>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    let not_found = || VaultError::NotFound("name: no such record policy in this tenant".into());
    let existing = app
        .record_policy(tenant_id, name)
        .await?
        .ok_or_else(not_found)?;
    let review = widening::policy(Some(&existing), None);
    if approval::is_on(app) {
        return file(app, caller, DELETE_RECORD_POLICY, &existing, &review)
            .await
            .map(Some);
    }
    if !app.store.delete_record_policy(tenant_id, name).await? {
        return Err(not_found());
    }
    let action = "record-policy.delete";
    audit_policy(
        app,
        caller.id(),
        &caller.request_id,
        tenant_id,
        name,
        action,
        &review.changes,
        None,
    )
    .await?;
    Ok(None)
}
