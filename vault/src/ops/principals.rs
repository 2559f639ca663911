//! Principals: creating (with a token, an enrolment code, or — for principals that re-identify,
//! approve or administer, under the two-person rule — a request a second person approves),
//! revoking, listing, and binding a client certificate by proof of possession.

use std::sync::Arc;

use valv_kms::SecretBytes;

use super::{
    approval::{self, CREATE_OPERATOR, CREATE_PRINCIPAL, Outcome},
    enrolment::{self, Enrolment},
    principal_record,
};
use crate::{
    app::App,
    audit::OPERATOR_CHAIN,
    authz::{Caller, token},
    engine::{names::check_name, widening},
    error::{VaultError, VaultResult},
    store::records::{PendingOpRecord, PrincipalRecord, Role},
};

/// What `CreatePrincipal` led to.
#[derive(Debug)]
pub enum Created {
    /// Stored; its token, shown once.
    Token(PrincipalRecord, SecretBytes),
    /// Stored, waiting for its holder to claim the code.
    Enrolment(Enrolment),
    /// Exists only once approved: the code its holder claims then, the operation and deadline.
    Pending(Enrolment, u64, i64),
}

/// A principal record without credential (not stored).
pub(crate) fn record(
    app: &App,
    tenant_id: Option<u64>,
    name: &str,
    roles: Vec<Role>,
    purposes: Vec<String>,
    created_by: &str,
) -> PrincipalRecord {
    let (id, _, _) = token::issue();
    PrincipalRecord {
        id,
        tenant_id,
        name: name.to_owned(),
        roles,
        purposes,
        created_ms: app.now_ms(),
        created_by: created_by.to_owned(),
        ..PrincipalRecord::default()
    }
}

fn chain_of(principal: &PrincipalRecord) -> u64 {
    principal.tenant_id.unwrap_or(OPERATOR_CHAIN)
}

/// Creates a principal: operators create operators, tenant-admins any other role in their
/// tenant. `enrol` asks for an enrolment code instead of a token.
pub async fn create_principal(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    roles: Vec<Role>,
    purposes: Vec<String>,
    enrol: bool,
) -> VaultResult<Created> {
    check_name(name).map_err(|rule| VaultError::invalid("name", rule))?;
    let operator = caller.principal.tenant_id.is_none();
    let tenant_id = if operator {
        caller.require(Role::Operator)?;
        if roles != [Role::Operator] {
            return Err(VaultError::PermissionDenied(
                "operators create only operator principals".into(),
            ));
        }
        if !purposes.is_empty() {
            return Err(VaultError::invalid(
                "purposes",
                "operators have no purposes",
            ));
        }
        None
    } else {
        let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
        check_tenant_roles(app, tenant_id, &roles, &purposes).await?;
        Some(tenant_id)
    };
    let principal = record(app, tenant_id, name, roles, purposes, caller.id());
    let changes = widening::principal(&principal.roles, &principal.purposes);
    if approval::is_on(app) && widening::needs_second_person(&principal.roles) {
        if operator && app.principals(None).await?.len() == 1 {
            // The first operator enrols the second alone: there is nobody to approve yet. Only
            // once (operators cannot be revoked, so the count never falls back to one), and by
            // code, so the person it is meant for notices if the code was used before them.
            let enrolment = enrolment::store_awaiting(app, principal).await?;
            audit_created(app, caller, &enrolment.principal, changes, None).await?;
            return Ok(Created::Enrolment(enrolment));
        }
        let enrolment = enrolment::awaiting(app, principal);
        let op = PendingOpRecord {
            tenant_id: chain_of(&enrolment.principal),
            kind: if operator {
                CREATE_OPERATOR
            } else {
                CREATE_PRINCIPAL
            }
            .into(),
            payload: serde_json::to_string(&enrolment.principal)
                .map_err(|e| VaultError::Internal(format!("principal record: {e}")))?,
            changes,
            ..PendingOpRecord::default()
        };
        return match approval::file_now(app, caller, op).await? {
            Outcome::Pending(id, until) => Ok(Created::Pending(enrolment, id, until)),
            Outcome::Done(_) => Err(VaultError::Internal("filed operation done".into())),
        };
    }
    if enrol {
        let enrolment = enrolment::store_awaiting(app, principal).await?;
        audit_created(app, caller, &enrolment.principal, changes, None).await?;
        return Ok(Created::Enrolment(enrolment));
    }
    let mut principal = principal;
    let (token, hash) = token::secret_for(token::TOKEN, &principal.id);
    principal.token_sha256 = hash;
    app.put_principal(&principal).await?;
    audit_created(app, caller, &principal, changes, None).await?;
    Ok(Created::Token(principal, token))
}

async fn check_tenant_roles(
    app: &App,
    tenant_id: u64,
    roles: &[Role],
    purposes: &[String],
) -> VaultResult<()> {
    if roles.is_empty() {
        return Err(VaultError::invalid("roles", "at least one role"));
    }
    if roles.contains(&Role::Operator) {
        return Err(VaultError::invalid(
            "roles",
            "operator cannot be granted to a tenant principal",
        ));
    }
    for (i, p) in purposes.iter().enumerate() {
        if app.purpose(tenant_id, p).await?.is_none() {
            return Err(VaultError::invalid(
                format!("purposes[{i}]"),
                "not defined in this tenant",
            ));
        }
    }
    Ok(())
}

async fn audit_created(
    app: &App,
    caller: &Caller,
    principal: &PrincipalRecord,
    changes: Vec<widening::Change>,
    approver: Option<&str>,
) -> VaultResult<()> {
    let mut entry = caller.act(app.now_ms(), "principal.create");
    entry.items = vec![(principal.id.clone(), "created".into())];
    if principal.enrolment.is_some() {
        entry
            .items
            .push((principal.id.clone(), "enrolment-code-issued".into()));
    }
    if let Some(approver) = approver {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    entry.changes = changes;
    app.audit.record(chain_of(principal), entry).await
}

/// Carries out an approved `create-principal` / `create-operator`: the principal exists from now
/// on, and its enrolment code can be claimed.
pub(crate) async fn create_approved(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<String> {
    let mut principal: PrincipalRecord = serde_json::from_str(&op.payload)
        .map_err(|e| VaultError::Internal(format!("pending principal: {e}")))?;
    if chain_of(&principal) != op.tenant_id {
        return Err(VaultError::Internal(
            "pending principal of another scope".into(),
        ));
    }
    if app.principal(&principal.id).await?.is_some() {
        return Err(VaultError::FailedPrecondition(
            "id: the principal exists already".into(),
        ));
    }
    if let Some(tenant_id) = principal.tenant_id {
        check_tenant_roles(app, tenant_id, &principal.roles, &principal.purposes).await?;
    }
    let now = app.now_ms();
    principal.created_ms = now;
    if let Some(e) = principal.enrolment.as_mut() {
        e.expires_ms = enrolment::deadline(app, now);
    }
    app.put_principal(&principal).await?;
    let requester = Caller {
        principal: PrincipalRecord {
            id: op.requested_by.clone(),
            ..PrincipalRecord::default()
        },
        request_id: approver.request_id.clone(),
    };
    audit_created(
        app,
        &requester,
        &principal,
        op.changes.clone(),
        Some(approver.id()),
    )
    .await?;
    Ok(format!(
        "principal {} ({}) created",
        principal.id, principal.name
    ))
}

/// Revokes a principal of the caller's tenant, at once (narrowing needs nobody else).
pub async fn revoke_principal(
    app: &Arc<App>,
    caller: &Caller,
    id: &str,
) -> VaultResult<PrincipalRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    let principal = principal_record::change(app, id, |p| {
        if p.tenant_id != Some(tenant_id) {
            return Err(VaultError::NotFound(
                "id: no such principal in this tenant".into(),
            ));
        }
        p.revoked = true;
        Ok(())
    })
    .await?;
    let mut entry = caller.act(app.now_ms(), "principal.revoke");
    entry.items = vec![(principal.id.clone(), "revoked".into())];
    entry.changes = vec![("revoked".into(), "false".into(), "true".into())];
    app.audit.record(tenant_id, entry).await?;
    Ok(principal)
}

/// Lists the caller's principals.
pub async fn list_principals(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<PrincipalRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.principals(Some(tenant_id)).await
}

/// Binds the client certificate this call came with to the calling principal. The TLS handshake
/// proved that the caller holds the certificate's key, and the token that the caller is the
/// principal: nobody can bind a certificate that is not theirs, and a binding adds no right and
/// no holder the principal did not have. One certificate per principal, for its life.
pub async fn bind_certificate(
    app: &Arc<App>,
    caller: &Caller,
    peer_cert_der: Option<&[u8]>,
) -> VaultResult<PrincipalRecord> {
    use sha2::{Digest, Sha256};
    let der = peer_cert_der.ok_or_else(|| {
        VaultError::FailedPrecondition(
            "client certificate: connect with the certificate to bind (mTLS) and authenticate with the principal's token".into(),
        )
    })?;
    let fingerprint = hex::encode(Sha256::digest(der));
    let mut bound_now = false;
    let principal = principal_record::change(app, caller.id(), |p| {
        bound_now = false;
        if p.revoked {
            return Err(VaultError::Unauthenticated("principal revoked"));
        }
        match &p.client_cert_sha256 {
            Some(fp) if *fp == fingerprint => Ok(()),
            Some(_) => Err(VaultError::FailedPrecondition(
                "client certificate: this principal has one bound already; create a new principal to use another".into(),
            )),
            None => {
                p.client_cert_sha256 = Some(fingerprint.clone());
                bound_now = true;
                Ok(())
            }
        }
    })
    .await?;
    if !bound_now {
        // Bound to this very certificate already: nothing changed, nothing to audit.
        return Ok(principal);
    }
    let mut entry = caller.act(app.now_ms(), "principal.bind-certificate");
    entry.items = vec![(principal.id.clone(), "certificate-bound".into())];
    entry.changes = vec![("client_cert_sha256".into(), String::new(), fingerprint)];
    app.audit.record(chain_of(&principal), entry).await?;
    Ok(principal)
}
