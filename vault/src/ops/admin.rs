//! Tenants, domains, purposes and principals.

use std::sync::Arc;

use valv_kms::{SecretBytes, TenantKeys};

use crate::{
    app::App,
    audit::OPERATOR_CHAIN,
    authz::{Caller, token},
    engine::{identifier::IdentifierKind, names::check_name, scheme::Scheme},
    error::{VaultError, VaultResult},
    store::records::{
        DomainRecord, LegalBasis, PrincipalRecord, PurposeRecord, Role, TenantRecord,
    },
};

fn name_ok(field: &str, name: &str) -> VaultResult<()> {
    check_name(name).map_err(|rule| VaultError::invalid(field, rule))
}

/// Creates a tenant and its first tenant-admin; returns the admin's token (shown once).
pub async fn create_tenant(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    admin_name: &str,
) -> VaultResult<(TenantRecord, PrincipalRecord, SecretBytes)> {
    caller.require(Role::Operator)?;
    name_ok("name", name)?;
    let admin_name = if admin_name.is_empty() {
        "admin"
    } else {
        admin_name
    };
    name_ok("admin_name", admin_name)?;
    let now = app.now_ms();
    let tenant = TenantRecord {
        id: app.store.next_id().await?,
        name: name.to_owned(),
        created_ms: now,
        shredded_ms: 0,
        age_of_consent: 0,
    };
    // Shared root lock: a root-key rotation cannot miss this key ring.
    let root = app.keys.root_in_use().await;
    let wrapped = TenantKeys::generate(tenant.id, now).wrap(app.keys.root().as_ref())?;
    app.store.create_tenant(&tenant, &wrapped).await?;
    drop(root);
    let (admin, token) = new_principal(
        app,
        Some(tenant.id),
        admin_name,
        vec![Role::TenantAdmin],
        vec![],
        None,
    )
    .await?;
    let mut entry = caller.act(now, "tenant.create");
    entry.counts = vec![("tenant".into(), tenant.id)];
    app.audit.record(OPERATOR_CHAIN, entry).await?;
    Ok((tenant, admin, token))
}

/// Stores a new principal; returns it with its token.
pub(crate) async fn new_principal(
    app: &App,
    tenant_id: Option<u64>,
    name: &str,
    roles: Vec<Role>,
    purposes: Vec<String>,
    client_cert_sha256: Option<String>,
) -> VaultResult<(PrincipalRecord, SecretBytes)> {
    let (id, token, hash) = token::issue();
    let principal = PrincipalRecord {
        id,
        tenant_id,
        name: name.to_owned(),
        roles,
        purposes,
        token_sha256: hash,
        client_cert_sha256,
        revoked: false,
        created_ms: app.now_ms(),
    };
    app.store.put_principal(&principal).await?;
    Ok((principal, token))
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
            "format-preserving needs a digit-based kind (phone, se-personnummer, no-fodselsnummer, dk-cpr, fi-hetu)",
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
    };
    app.store.create_domain(&domain).await?;
    let mut entry = caller.act(domain.created_ms, "domain.create");
    entry.domain = Some(domain.name.clone());
    app.audit.record(tenant_id, entry).await?;
    Ok(domain)
}

/// Lists the caller's domains.
pub async fn list_domains(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<DomainRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    Ok(app.store.list_domains(tenant_id).await?)
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

/// Creates or updates a purpose; returns it and whether it was new.
pub async fn define_purpose(
    app: &Arc<App>,
    caller: &Caller,
    spec: PurposeSpec,
) -> VaultResult<(PurposeRecord, bool)> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    name_ok("name", &spec.name)?;
    let legal_basis = spec
        .legal_basis
        .ok_or_else(|| VaultError::invalid("legal_basis", "must be set"))?;
    if spec.description.len() > 4096 {
        return Err(VaultError::invalid("description", "at most 4096 bytes"));
    }
    for (i, domain) in spec.domains.iter().enumerate() {
        if app.store.domain(tenant_id, domain).await?.is_none() {
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
    let existing = app.store.purpose(tenant_id, &spec.name).await?;
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
    };
    app.store.put_purpose(&purpose).await?;
    let mut entry = caller.act(now, "purpose.define");
    entry.purpose = Some(purpose.name.clone());
    entry.counts = vec![(
        "min_text_version".into(),
        u64::from(purpose.min_text_version),
    )];
    app.audit.record(tenant_id, entry).await?;
    Ok((purpose, existing.is_none()))
}

/// The caller's tenant settings (tenant-admin).
pub async fn tenant_settings(app: &Arc<App>, caller: &Caller) -> VaultResult<TenantRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    app.store
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::NotFound("tenant: gone".into()))
}

/// Sets the age of consent (tenant-admin).
pub async fn set_age_of_consent(
    app: &Arc<App>,
    caller: &Caller,
    age: u32,
) -> VaultResult<TenantRecord> {
    if !(1..=25).contains(&age) {
        return Err(VaultError::invalid(
            "age_of_consent",
            "must be between 1 and 25",
        ));
    }
    let mut tenant = tenant_settings(app, caller).await?;
    tenant.age_of_consent = age;
    app.store.put_tenant(&tenant).await?;
    let mut entry = caller.act(app.now_ms(), "tenant.settings");
    entry.counts = vec![("age_of_consent".into(), u64::from(age))];
    app.audit.record(tenant.id, entry).await?;
    Ok(tenant)
}

/// Lists the caller's purposes.
pub async fn list_purposes(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<PurposeRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    Ok(app.store.list_purposes(tenant_id).await?)
}

/// Creates a principal in the caller's tenant.
pub async fn create_principal(
    app: &Arc<App>,
    caller: &Caller,
    name: &str,
    roles: Vec<Role>,
    purposes: Vec<String>,
    client_cert_sha256: &str,
) -> VaultResult<(PrincipalRecord, SecretBytes)> {
    // Operators create only operators (a second one is what the two-person rule needs).
    if caller.principal.tenant_id.is_none() && caller.require(Role::Operator).is_ok() {
        if roles != [Role::Operator] {
            return Err(VaultError::PermissionDenied(
                "operators create only operator principals".into(),
            ));
        }
        name_ok("name", name)?;
        if !purposes.is_empty() {
            return Err(VaultError::invalid(
                "purposes",
                "operators have no purposes",
            ));
        }
        let result = new_principal(app, None, name, roles, vec![], None).await?;
        let mut entry = caller.act(app.now_ms(), "principal.create");
        entry.items = vec![(result.0.id.clone(), "created".into())];
        app.audit.record(OPERATOR_CHAIN, entry).await?;
        return Ok(result);
    }
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    name_ok("name", name)?;
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
        if app.store.purpose(tenant_id, p).await?.is_none() {
            return Err(VaultError::invalid(
                format!("purposes[{i}]"),
                "not defined in this tenant",
            ));
        }
    }
    let cert = match client_cert_sha256 {
        "" => None,
        fp if fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(fp.to_ascii_lowercase())
        }
        _ => {
            return Err(VaultError::invalid(
                "client_cert_sha256",
                "64 hex characters (SHA-256 of the DER certificate)",
            ));
        }
    };
    let result = new_principal(app, Some(tenant_id), name, roles, purposes, cert).await?;
    let mut entry = caller.act(app.now_ms(), "principal.create");
    entry.items = vec![(result.0.id.clone(), "created".into())];
    app.audit.record(tenant_id, entry).await?;
    Ok(result)
}

/// Revokes a principal of the caller's tenant.
pub async fn revoke_principal(
    app: &Arc<App>,
    caller: &Caller,
    id: &str,
) -> VaultResult<PrincipalRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    let mut principal = app
        .store
        .principal(id)
        .await?
        .filter(|p| p.tenant_id == Some(tenant_id))
        .ok_or_else(|| VaultError::NotFound("id: no such principal in this tenant".into()))?;
    principal.revoked = true;
    app.store.put_principal(&principal).await?;
    let mut entry = caller.act(app.now_ms(), "principal.revoke");
    entry.items = vec![(principal.id.clone(), "revoked".into())];
    app.audit.record(tenant_id, entry).await?;
    Ok(principal)
}

/// Lists the caller's principals.
pub async fn list_principals(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<PrincipalRecord>> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    Ok(app.store.list_principals(Some(tenant_id)).await?)
}
