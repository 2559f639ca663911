//! Tenants, domains, purposes and principals.

use std::sync::Arc;

use valv_kms::TenantKeys;

use super::{
    approval::{self, DEFINE_PURPOSE, Outcome},
    enrolment::{self, Enrolment},
    principals,
};
use crate::{
    app::App,
    audit::OPERATOR_CHAIN,
    authz::Caller,
    engine::{identifier::IdentifierKind, names::check_name, scheme::Scheme, widening},
    error::{VaultError, VaultResult},
    store::records::{
        DomainRecord, LegalBasis, PendingOpRecord, PurposeRecord, Role, TenantRecord,
    },
};

fn name_ok(field: &str, name: &str) -> VaultResult<()> {
    check_name(name).map_err(|rule| VaultError::invalid(field, rule))
}

/// Creates a tenant and its first tenant-admins, each as an enrolment code for the person who
/// will hold it: the operator never sees a token of the tenant. `admins` = 0: two under the
/// two-person rule (one alone could approve nothing), else one.
pub async fn create_tenant(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    admin_name: &str,
    admins: u32,
) -> VaultResult<(TenantRecord, Vec<Enrolment>)> {
    caller.require(Role::Operator)?;
    name_ok("name", name)?;
    let admin_name = if admin_name.is_empty() {
        "admin"
    } else {
        admin_name
    };
    name_ok("admin_name", admin_name)?;
    let admins = match admins {
        0 if approval::is_on(app) => 2,
        0 => 1,
        1..=5 => admins,
        _ => return Err(VaultError::invalid("admins", "between 1 and 5")),
    };
    if admins < 2 && approval::is_on(app) {
        return Err(VaultError::invalid(
            "admins",
            "at least 2 under the two-person rule: one tenant-admin alone could approve nothing",
        ));
    }
    let now = app.now_ms();
    let tenant = TenantRecord {
        id: app.store.next_id().await?,
        name: name.to_owned(),
        created_ms: now,
        shredded_ms: 0,
        age_of_consent: 0,
        new_identifiers_per_hour: None,
        new_identifiers_warning_per_hour: None,
        requests_per_second: None,
        mac: String::new(),
    };
    // Shared root lock: a root-key rotation cannot miss this key ring.
    let root = app.keys.root_in_use().await;
    let keys = TenantKeys::generate(tenant.id, now);
    let wrapped = keys.wrap(app.keys.root().as_ref())?;
    let mut tenant = tenant;
    tenant.mac = crate::engine::integrity::mac(&keys.row_integrity_key(), &tenant);
    drop(keys);
    app.store.create_tenant(&tenant, &wrapped).await?;
    drop(root);
    let mut enrolments = Vec::new();
    for i in 1..=admins {
        let name = if admins == 1 {
            admin_name.to_owned()
        } else {
            format!("{admin_name}-{i}")
        };
        let principal = principals::record(
            app,
            Some(tenant.id),
            &name,
            vec![Role::TenantAdmin],
            vec![],
            caller.id(),
        );
        enrolments.push(enrolment::store_awaiting(app, principal).await?);
    }
    let ids: Vec<(String, String)> = enrolments
        .iter()
        .map(|e| (e.principal.id.clone(), "enrolment-code-issued".into()))
        .collect();
    // Both chains name the operator: the tenant's own chain starts with who created it.
    let mut entry = caller.act(now, "tenant.create");
    entry.counts = vec![
        ("tenant".into(), tenant.id),
        ("admins".into(), u64::from(admins)),
    ];
    entry.items.clone_from(&ids);
    app.audit.append(tenant.id, entry.clone()).await?;
    app.audit.record(OPERATOR_CHAIN, entry).await?;
    Ok((tenant, enrolments))
}

/// Domain settings from a request.
#[derive(Debug, Default)]
pub struct DomainSpec {
    /// Name.
    pub name: String,
    /// Kind (`None`: unspecified in the request).
    pub kind: Option<IdentifierKind>,
    /// Scheme (`None`: unspecified).
    pub scheme: Option<Scheme>,
    /// Keep identifiers for re-identification.
    pub reversible: bool,
    /// Mapping lifetime in seconds.
    pub retention_seconds: u64,
    /// Retention counts from the last use.
    pub retention_since_last_use: bool,
    /// Mappings live no longer than the subject's consent for this purpose.
    pub consent_purpose: String,
}

/// Creates a domain.
pub async fn create_domain(
    app: &Arc<App>,
    caller: &Caller,
    spec: DomainSpec,
) -> VaultResult<DomainRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    name_ok("name", &spec.name)?;
    let kind = spec
        .kind
        .ok_or_else(|| VaultError::invalid("kind", "must be set"))?;
    let scheme = spec
        .scheme
        .ok_or_else(|| VaultError::invalid("scheme", "must be set"))?;
    if scheme == Scheme::FormatPreserving && !kind.supports_format_preserving() {
        return Err(VaultError::invalid(
            "scheme",
            "format-preserving is offered for no-fodselsnummer, dk-cpr and fi-hetu, whose number spaces have a part no real person can have; se-personnummer, phone, e-mail and opaque identifiers have none (use keyed or random)",
        ));
    }
    if spec.retention_seconds > 100 * 365 * 86_400 {
        return Err(VaultError::invalid(
            "retention_seconds",
            "at most 100 years",
        ));
    }
    if spec.retention_since_last_use && spec.retention_seconds == 0 {
        return Err(VaultError::invalid(
            "retention_since_last_use",
            "needs retention_seconds",
        ));
    }
    if !spec.consent_purpose.is_empty() {
        let purpose = super::find_purpose(app, tenant_id, &spec.consent_purpose)
            .await
            .map_err(|_| {
                VaultError::invalid("consent_purpose", "no such purpose in this tenant")
            })?;
        if purpose.legal_basis != LegalBasis::Consent {
            return Err(VaultError::invalid(
                "consent_purpose",
                "its legal basis is not consent",
            ));
        }
    }
    let domain = DomainRecord {
        id: app.store.next_id().await?,
        tenant_id,
        name: spec.name,
        kind,
        scheme,
        reversible: spec.reversible,
        retention_seconds: spec.retention_seconds,
        epoch: 1,
        created_ms: app.now_ms(),
        old_epochs_until_ms: 0,
        retention_since_last_use: spec.retention_since_last_use,
        consent_purpose: spec.consent_purpose,
        mac: String::new(),
    };
    app.create_domain(&domain).await?;
    let mut entry = caller.act(domain.created_ms, "domain.create");
    entry.domain = Some(domain.name.clone());
    entry.changes = vec![
        ("kind".into(), String::new(), domain.kind.as_str().into()),
        (
            "scheme".into(),
            String::new(),
            domain.scheme.as_str().into(),
        ),
        (
            "reversible".into(),
            String::new(),
            domain.reversible.to_string(),
        ),
        (
            "retention_seconds".into(),
            String::new(),
            domain.retention_seconds.to_string(),
        ),
    ];
    if !domain.consent_purpose.is_empty() {
        entry.changes.push((
            "consent_purpose".into(),
            String::new(),
            domain.consent_purpose.clone(),
        ));
    }
    app.audit.record(tenant_id, entry).await?;
    Ok(domain)
}

/// Lists the caller's domains.
pub async fn list_domains(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<DomainRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.domains(tenant_id).await
}

/// Purpose settings from a request.
#[derive(Debug, Default)]
pub struct PurposeSpec {
    /// Name.
    pub name: String,
    /// Legal basis (`None`: unspecified).
    pub legal_basis: Option<LegalBasis>,
    /// Minimum consent text version.
    pub min_text_version: u32,
    /// Default consent validity.
    pub default_consent_validity_seconds: u64,
    /// Free text.
    pub description: String,
    /// GDPR Art. 9 explicit consent.
    pub explicit_consent: bool,
    /// Domains covered (empty: all).
    pub domains: Vec<String>,
    /// Withdrawal erases the subject's mappings in the covered domains.
    pub erase_on_withdrawal: bool,
    /// Evidence kept this long after withdrawal or expiry (0: until erasure).
    pub evidence_retention_seconds: u64,
}

/// What `DefinePurpose` led to.
#[derive(Debug)]
pub struct PurposeDefined {
    /// The purpose as stored now (unchanged while a change waits for approval).
    pub purpose: PurposeRecord,
    /// Whether it was new.
    pub created: bool,
    /// Waiting for a second tenant-admin: operation id and deadline.
    pub pending: Option<(u64, i64)>,
    /// What the definition changes.
    pub changes: Vec<widening::Change>,
}

/// Creates or updates a purpose. Its legal basis never changes; a change that releases more
/// waits for a second tenant-admin under the two-person rule; one that releases less takes effect
/// at once.
pub async fn define_purpose(
    app: &Arc<App>,
    caller: &Caller,
    spec: PurposeSpec,
) -> VaultResult<PurposeDefined> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    name_ok("name", &spec.name)?;
    let legal_basis = spec
        .legal_basis
        .ok_or_else(|| VaultError::invalid("legal_basis", "must be set"))?;
    if spec.description.len() > 4096 {
        return Err(VaultError::invalid("description", "at most 4096 bytes"));
    }
    for (i, domain) in spec.domains.iter().enumerate() {
        if app.domain(tenant_id, domain).await?.is_none() {
            return Err(VaultError::invalid(
                format!("domains[{i}]"),
                "no such domain in this tenant",
            ));
        }
    }
    if legal_basis != LegalBasis::Consent && (spec.erase_on_withdrawal || spec.explicit_consent) {
        return Err(VaultError::invalid(
            "legal_basis",
            "explicit_consent and erase_on_withdrawal need the legal basis consent",
        ));
    }
    let now = app.now_ms();
    let existing = app.purpose(tenant_id, &spec.name).await?;
    let purpose = PurposeRecord {
        tenant_id,
        name: spec.name,
        legal_basis,
        min_text_version: spec.min_text_version,
        default_consent_validity_seconds: spec.default_consent_validity_seconds,
        description: spec.description,
        created_ms: existing.as_ref().map_or(now, |p| p.created_ms),
        updated_ms: now,
        explicit_consent: spec.explicit_consent,
        domains: spec.domains,
        erase_on_withdrawal: spec.erase_on_withdrawal,
        evidence_retention_seconds: spec.evidence_retention_seconds,
        text_versions: existing.as_ref().map_or(0, |p| p.text_versions),
        mac: String::new(),
    };
    let review = widening::purpose(existing.as_ref(), &purpose)
        .map_err(|rule| VaultError::invalid("legal_basis", rule))?;
    let created = existing.is_none();
    if let Some(old) = existing.filter(|_| review.widens && approval::is_on(app)) {
        let op = PendingOpRecord {
            tenant_id,
            kind: DEFINE_PURPOSE.into(),
            payload: serde_json::to_string(&purpose)
                .map_err(|e| VaultError::Internal(format!("purpose record: {e}")))?,
            changes: review.changes.clone(),
            ..PendingOpRecord::default()
        };
        let Outcome::Pending(id, until) = approval::file_now(app, caller, op).await? else {
            return Err(VaultError::Internal("filed operation done".into()));
        };
        return Ok(PurposeDefined {
            purpose: old,
            created: false,
            pending: Some((id, until)),
            changes: review.changes,
        });
    }
    store_purpose(
        app,
        caller.id(),
        &caller.request_id,
        &purpose,
        &review.changes,
        None,
    )
    .await?;
    Ok(PurposeDefined {
        created,
        purpose,
        pending: None,
        changes: review.changes,
    })
}

async fn store_purpose(
    app: &App,
    principal: &str,
    request_id: &str,
    purpose: &PurposeRecord,
    changes: &[widening::Change],
    approver: Option<&str>,
) -> VaultResult<()> {
    app.put_purpose(purpose).await?;
    let mut entry = crate::audit::entry(app.now_ms(), principal, "purpose.define");
    entry.request_id = request_id.to_owned();
    entry.purpose = Some(purpose.name.clone());
    entry.changes = changes.to_vec();
    if let Some(approver) = approver {
        entry.items = vec![(approver.to_owned(), "approved".into())];
    }
    app.audit.record(purpose.tenant_id, entry).await
}

/// Carries out an approved purpose change, if the purpose still has the legal basis it had.
pub(crate) async fn define_purpose_approved(
    app: &Arc<App>,
    op: &PendingOpRecord,
    approver: &Caller,
) -> VaultResult<String> {
    let mut purpose: PurposeRecord = serde_json::from_str(&op.payload)
        .map_err(|e| VaultError::Internal(format!("pending purpose: {e}")))?;
    if purpose.tenant_id != op.tenant_id {
        return Err(VaultError::Internal(
            "pending purpose of another tenant".into(),
        ));
    }
    let current = app.purpose(purpose.tenant_id, &purpose.name).await?;
    if let Some(current) = &current {
        // Text versions added while the change waited stay.
        purpose.text_versions = current.text_versions;
    }
    widening::purpose(current.as_ref(), &purpose)
        .map_err(|rule| VaultError::FailedPrecondition(format!("legal_basis: {rule}")))?;
    purpose.updated_ms = app.now_ms();
    store_purpose(
        app,
        &op.requested_by,
        &approver.request_id,
        &purpose,
        &op.changes,
        Some(approver.id()),
    )
    .await?;
    Ok(format!("purpose {} changed", purpose.name))
}

/// The caller's tenant settings (tenant-admin).
pub async fn tenant_settings(app: &Arc<App>, caller: &Caller) -> VaultResult<TenantRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::NotFound("tenant: gone".into()))
}

/// A change of tenant settings: each field given is set, the others stay.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingsChange {
    /// The age of consent (1–25).
    pub age_of_consent: Option<u32>,
    /// New identifiers per principal and hour (0: no limit).
    pub new_identifiers_per_hour: Option<u64>,
    /// The warning threshold of the same (0: never).
    pub new_identifiers_warning_per_hour: Option<u64>,
    /// Calls per principal and second on each node (0: no limit).
    pub requests_per_second: Option<u64>,
}

/// Changes tenant settings (tenant-admin); the audit entry names each change, before and after.
pub async fn set_settings(
    app: &Arc<App>,
    caller: &Caller,
    change: SettingsChange,
) -> VaultResult<TenantRecord> {
    if change
        .age_of_consent
        .is_some_and(|age| !(1..=25).contains(&age))
    {
        return Err(VaultError::invalid(
            "age_of_consent",
            "must be between 1 and 25",
        ));
    }
    let mut tenant = tenant_settings(app, caller).await?;
    let before = app.settings_of(&tenant);
    if let Some(age) = change.age_of_consent {
        tenant.age_of_consent = age;
    }
    if let Some(n) = change.new_identifiers_per_hour {
        tenant.new_identifiers_per_hour = Some(n);
    }
    if let Some(n) = change.new_identifiers_warning_per_hour {
        tenant.new_identifiers_warning_per_hour = Some(n);
    }
    if let Some(n) = change.requests_per_second {
        tenant.requests_per_second = Some(n);
    }
    let after = app.settings_of(&tenant);
    let fields = [
        (
            "age_of_consent",
            u64::from(before.age_of_consent),
            u64::from(after.age_of_consent),
        ),
        (
            "new_identifiers_per_hour",
            before.new_identifiers_per_hour,
            after.new_identifiers_per_hour,
        ),
        (
            "new_identifiers_warning_per_hour",
            before.new_identifiers_warning_per_hour,
            after.new_identifiers_warning_per_hour,
        ),
        (
            "requests_per_second",
            before.requests_per_second,
            after.requests_per_second,
        ),
    ];
    let changes: Vec<(String, String, String)> = fields
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(f, b, a)| (f.to_owned(), b.to_string(), a.to_string()))
        .collect();
    if changes.is_empty() {
        return Ok(tenant);
    }
    app.put_tenant(&tenant).await?;
    let mut entry = caller.act(app.now_ms(), "tenant.settings");
    entry.counts = vec![("age_of_consent".into(), u64::from(after.age_of_consent))];
    entry.changes = changes;
    app.audit.record(tenant.id, entry).await?;
    Ok(tenant)
}

/// Lists the caller's purposes.
pub async fn list_purposes(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<PurposeRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.purposes(tenant_id).await
}
