//! Sharing agreements (tenant-admin): a recipient may receive data under its own pseudonyms —
//! those of `to_domain` — translated from `from_domain`'s for one purpose until a date, and no
//! identifier leaves the vault (`ops::translate` does the translating). An agreement widens who
//! can link the tenant's data, so under the two-person rule a second tenant-admin approves it;
//! revoking narrows and takes effect at once. Agreements are never changed: revoke one and
//! define it anew.

use std::sync::Arc;

use super::approval::{self, DEFINE_SHARING_AGREEMENT, Outcome};
use crate::{
    app::App,
    authz::Caller,
    engine::names::check_name,
    error::{VaultError, VaultResult},
    store::records::{AgreementRecord, PendingOpRecord, Role},
};

/// Longest recipient text.
const MAX_RECIPIENT: usize = 200;
/// Longest legal-basis text.
const MAX_LEGAL_BASIS: usize = 500;

/// What defining an agreement led to: stored, or waiting for approval (operation id, deadline).
#[derive(Debug)]
pub enum Defined {
    /// In force now.
    Stored(Box<AgreementRecord>),
    /// Waits for a second tenant-admin.
    Pending(u64, i64),
}

/// Defines an agreement (tenant-admin). `agreement`'s `tenant_id`, `created_*`, `approved_by`
/// and `mac` are set here.
pub async fn define(
    app: &Arc<App>,
    caller: &Caller,
    mut agreement: AgreementRecord,
) -> VaultResult<Defined> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    agreement.tenant_id = tenant_id;
    agreement.created_ms = app.now_ms();
    agreement.created_by = caller.id().to_owned();
    agreement.approved_by = String::new();
    agreement.mac = String::new();
    check(app, &agreement).await?;
    if app.agreement(tenant_id, &agreement.name).await?.is_some() {
        return Err(taken());
    }
    if approval::is_on(app) {
        let op = PendingOpRecord {
            tenant_id,
            kind: DEFINE_SHARING_AGREEMENT.into(),
            payload: serde_json::to_string(&agreement)
                .map_err(|e| VaultError::Internal(format!("sharing agreement: {e}")))?,
            changes: changes(&agreement),
            ..PendingOpRecord::default()
        };
        return match approval::file_now(app, caller, op).await? {
            Outcome::Pending(id, until) => Ok(Defined::Pending(id, until)),
            Outcome::Done(_) => Err(VaultError::Internal("filed operation done".into())),
        };
    }
    store(app, &caller.request_id, &agreement).await?;
    Ok(Defined::Stored(Box::new(agreement)))
}

/// Carries out an approved definition.
pub(crate) async fn define_approved(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<String> {
    let mut agreement: AgreementRecord = serde_json::from_str(&op.payload)
        .map_err(|e| VaultError::Internal(format!("pending sharing agreement: {e}")))?;
    if agreement.tenant_id != op.tenant_id {
        return Err(VaultError::Internal(
            "pending agreement of another tenant".into(),
        ));
    }
    // What held when it was requested must still hold (a purpose may have changed since).
    check(app, &agreement).await?;
    agreement.approved_by = approver.id().to_owned();
    store(app, &approver.request_id, &agreement).await?;
    Ok(format!("sharing agreement {} defined", agreement.name))
}

/// The tenant's agreements (tenant-admin, auditor, translator).
pub async fn list(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<AgreementRecord>> {
    caller.require_any(&[Role::TenantAdmin, Role::Auditor, Role::Translator])?;
    app.agreements(caller.tenant()?).await
}

/// Revokes an agreement at once (tenant-admin): it narrows, so it needs nobody else.
pub async fn revoke(app: &Arc<App>, caller: &Caller, name: &str) -> VaultResult<()> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    if !app.store.delete_agreement(tenant_id, name).await? {
        return Err(VaultError::NotFound(
            "name: no such sharing agreement in this tenant".into(),
        ));
    }
    let mut entry = caller.act(app.now_ms(), "sharing-agreement.revoke");
    entry.items = vec![(name.to_owned(), "revoked".into())];
    entry.changes = vec![("agreement".into(), name.to_owned(), String::new())];
    app.audit.record(tenant_id, entry).await
}

/// Stores a checked agreement and audits it (durably: a recipient's data may follow).
async fn store(app: &App, request_id: &str, agreement: &AgreementRecord) -> VaultResult<()> {
    app.create_agreement(agreement).await.map_err(|e| match e {
        VaultError::AlreadyExists(_) => taken(),
        other => other,
    })?;
    let mut entry = crate::audit::entry(
        app.now_ms(),
        &agreement.created_by,
        "sharing-agreement.define",
    );
    entry.request_id = request_id.to_owned();
    entry.domain = Some(agreement.from_domain.clone());
    entry.purpose = Some(agreement.purpose.clone());
    entry.items = vec![(agreement.name.clone(), "defined".into())];
    if !agreement.approved_by.is_empty() {
        entry
            .items
            .push((agreement.approved_by.clone(), "approved".into()));
    }
    entry.changes = changes(agreement);
    app.audit.record(agreement.tenant_id, entry).await
}

fn taken() -> VaultError {
    VaultError::AlreadyExists(
        "agreement.name: a sharing agreement of that name exists (revoke it to define it anew)"
            .into(),
    )
}

/// The agreement as audit changes (nothing before it).
fn changes(a: &AgreementRecord) -> Vec<(String, String, String)> {
    [
        ("agreement", a.name.clone()),
        ("from-domain", a.from_domain.clone()),
        ("to-domain", a.to_domain.clone()),
        ("purpose", a.purpose.clone()),
        ("recipient", a.recipient.clone()),
        ("legal-basis", a.legal_basis.clone()),
        ("valid-until-ms", a.valid_until_ms.to_string()),
    ]
    .into_iter()
    .map(|(field, to)| (field.to_owned(), String::new(), to))
    .collect()
}

/// Everything an agreement must satisfy, each refusal naming its field.
async fn check(app: &Arc<App>, a: &AgreementRecord) -> VaultResult<()> {
    check_name(&a.name).map_err(|rule| VaultError::invalid("agreement.name", rule))?;
    for (field, text, most) in [
        ("agreement.recipient", &a.recipient, MAX_RECIPIENT),
        ("agreement.legal_basis", &a.legal_basis, MAX_LEGAL_BASIS),
    ] {
        if text.trim().is_empty() {
            return Err(VaultError::invalid(field, "must not be empty"));
        }
        if text.chars().count() > most || text.chars().any(char::is_control) {
            return Err(VaultError::invalid(
                field,
                format!("at most {most} characters, no control characters"),
            ));
        }
    }
    if a.valid_until_ms <= app.now_ms() {
        return Err(VaultError::invalid(
            "agreement.valid_until_unix_ms",
            "must be in the future",
        ));
    }
    if a.from_domain == a.to_domain {
        return Err(VaultError::invalid(
            "agreement.to_domain",
            "must differ from from_domain",
        ));
    }
    let no_domain = |field| VaultError::invalid(field, "no such domain in this tenant");
    let from = app
        .domain(a.tenant_id, &a.from_domain)
        .await?
        .ok_or_else(|| no_domain("agreement.from_domain"))?;
    let to = app
        .domain(a.tenant_id, &a.to_domain)
        .await?
        .ok_or_else(|| no_domain("agreement.to_domain"))?;
    if !from.reversible {
        return Err(VaultError::invalid(
            "agreement.from_domain",
            "a one-way domain keeps no identifiers to translate from",
        ));
    }
    if from.kind != to.kind {
        return Err(VaultError::invalid(
            "agreement.to_domain",
            "must hold the same kind of identifier as from_domain",
        ));
    }
    let purpose = app.purpose(a.tenant_id, &a.purpose).await?.ok_or_else(|| {
        VaultError::invalid("agreement.purpose", "no such purpose in this tenant")
    })?;
    if !purpose.domains.is_empty() && !purpose.domains.contains(&from.name) {
        return Err(VaultError::invalid(
            "agreement.purpose",
            "the purpose does not cover from_domain",
        ));
    }
    Ok(())
}
