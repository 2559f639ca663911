//! The record of processing activities (GDPR Art. 30) as far as the vault knows it: what a data
//! protection officer attaches to the organisation's register — purposes with legal bases and
//! consent texts, the identifiers each domain holds and for how long, who may re-identify for
//! what, the record policies, where the keys live, the measures in force, and counts.
//!
//! Gathering reads the tenant's set-up and walks its mappings and consents (to count them);
//! the statements of measures are pure ([`measures`]) so they are tested apart from the store.

use std::{collections::BTreeMap, sync::Arc};

use super::{consent_list, keys::VersionInfo, seal};
use crate::{
    app::{App, settings::Settings},
    authz::Caller,
    error::VaultResult,
    store::records::{
        ConsentTextRecord, DomainRecord, LegalBasis, PurposeRecord, RecordPolicyRecord, Role,
        TenantRecord,
    },
};

/// One purpose and what hangs on it.
#[derive(Debug)]
pub struct PurposeEntry {
    /// The purpose.
    pub purpose: PurposeRecord,
    /// Its newest consent text.
    pub current_text: Option<ConsentTextRecord>,
    /// Current consents: granted, withdrawn, expired.
    pub consents: [u64; 3],
    /// Principals (not revoked) who may re-identify for it.
    pub reidentifiers: Vec<String>,
}

/// One domain and its count.
#[derive(Debug)]
pub struct DomainEntry {
    /// The domain.
    pub domain: DomainRecord,
    /// Mappings stored now.
    pub mappings: u64,
    /// Purposes whose re-identification covers it.
    pub purposes: Vec<String>,
}

/// Where the root key lives.
#[derive(Debug, Clone, Copy)]
pub struct RootInfo {
    /// `file`, `pkcs11` or `sealed`.
    pub provider: &'static str,
    /// Outside this process's memory, or sealed under shares.
    pub fit_for_production: bool,
    /// Shares needed and dealt (0 without a seal).
    pub threshold: u32,
    /// See `threshold`.
    pub shares: u32,
}

/// The tenant's chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditInfo {
    /// Entries now.
    pub entries: u64,
    /// Signed checkpoints.
    pub checkpoints: u64,
    /// Time of the newest checkpoint (0: none).
    pub last_checkpoint_ms: i64,
}

/// The whole record.
#[derive(Debug)]
pub struct ProcessingRecord {
    /// The tenant.
    pub tenant: TenantRecord,
    /// When it was gathered.
    pub generated_ms: i64,
    /// Purposes, by name.
    pub purposes: Vec<PurposeEntry>,
    /// Domains, by name.
    pub domains: Vec<DomainEntry>,
    /// Record policies.
    pub policies: Vec<RecordPolicyRecord>,
    /// Sharing agreements (the recipients), by name.
    pub agreements: Vec<crate::store::records::AgreementRecord>,
    /// The root key.
    pub root: RootInfo,
    /// The tenant key ring's versions.
    pub key_versions: Vec<VersionInfo>,
    /// Statements of the measures in force: (name, description).
    pub measures: Vec<(String, String)>,
    /// Settings in force.
    pub settings: Settings,
    /// Principals not revoked, per role.
    pub principals: Vec<(Role, u64)>,
    /// The audit chain.
    pub audit: AuditInfo,
}

/// Gathers the record (tenant-admin, auditor) and records that it was read.
pub async fn record(app: &Arc<App>, caller: &Caller) -> VaultResult<ProcessingRecord> {
    caller.require_any(&[Role::TenantAdmin, Role::Auditor])?;
    let tenant_id = caller.tenant()?;
    let tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| crate::error::VaultError::NotFound("tenant".into()))?;
    let principals = app.principals(Some(tenant_id)).await?;
    let active: Vec<_> = principals.iter().filter(|p| !p.revoked).collect();
    let consents: BTreeMap<String, [u64; 3]> = consent_list::counts_of(app, tenant_id)
        .await?
        .into_iter()
        .collect();
    let mut purposes = Vec::new();
    for purpose in app.purposes(tenant_id).await? {
        let current_text = app
            .store
            .consent_texts(tenant_id, &purpose.name)
            .await?
            .into_iter()
            .max_by_key(|t| t.version);
        let reidentifiers = active
            .iter()
            .filter(|p| p.roles.contains(&Role::Reidentifier) && p.purposes.contains(&purpose.name))
            .map(|p| p.name.clone())
            .collect();
        purposes.push(PurposeEntry {
            consents: consents.get(&purpose.name).copied().unwrap_or_default(),
            current_text,
            reidentifiers,
            purpose,
        });
    }
    purposes.sort_by(|a, b| a.purpose.name.cmp(&b.purpose.name));
    let mut domains = Vec::new();
    for domain in app.domains(tenant_id).await? {
        let covering = purposes
            .iter()
            .filter(|p| p.purpose.domains.is_empty() || p.purpose.domains.contains(&domain.name))
            .map(|p| p.purpose.name.clone())
            .collect();
        domains.push(DomainEntry {
            mappings: count_mappings(app, domain.id).await?,
            purposes: covering,
            domain,
        });
    }
    domains.sort_by(|a, b| a.domain.name.cmp(&b.domain.name));
    let status = seal::status(app).await;
    let root = RootInfo {
        provider: status.provider,
        fit_for_production: status.provider == "sealed" || app.keys.root().fit_for_production(),
        threshold: status.threshold,
        shares: status.shares,
    };
    let key_versions = super::keys::versions_of(app, tenant_id).await?;
    let mut by_role: BTreeMap<&str, (Role, u64)> = BTreeMap::new();
    for p in &active {
        for role in &p.roles {
            by_role
                .entry(crate::authz::role_name(*role))
                .or_insert((*role, 0))
                .1 += 1;
        }
    }
    let audit = audit_info(app, tenant_id).await?;
    let inputs = MeasureInputs {
        domains: domains.iter().map(|d| &d.domain).collect(),
        purposes: purposes.iter().map(|p| &p.purpose).collect(),
        root,
        key_use_budget: app.limits.key_use_budget,
        two_person_rule: super::approval::is_on(app),
        checkpoints: audit.checkpoints,
    };
    let measures = measures(&inputs);
    let mut policies = app.record_policies(tenant_id).await?;
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let agreements = app.agreements(tenant_id).await?;
    let record = ProcessingRecord {
        agreements,
        settings: app.settings_of(&tenant),
        tenant,
        generated_ms: app.now_ms(),
        purposes,
        domains,
        policies,
        root,
        key_versions,
        measures,
        principals: by_role.into_values().collect(),
        audit,
    };
    let counts = vec![
        ("purposes".to_owned(), record.purposes.len() as u64),
        ("domains".to_owned(), record.domains.len() as u64),
        (
            "mappings".to_owned(),
            record.domains.iter().map(|d| d.mappings).sum(),
        ),
    ];
    super::audit::record_access(
        app,
        caller,
        tenant_id,
        "tenant.record_of_processing",
        counts,
    )
    .await?;
    Ok(record)
}

async fn count_mappings(app: &App, domain_id: u64) -> VaultResult<u64> {
    let mut n = 0u64;
    let mut after = Vec::new();
    loop {
        let page = app.store.scan_mappings(domain_id, after, 2_000).await?;
        let Some((last, _)) = page.last() else {
            return Ok(n);
        };
        after = last.clone();
        n += page.len() as u64;
    }
}

async fn audit_info(app: &App, chain: u64) -> VaultResult<AuditInfo> {
    let entries = app.store.audit_head(chain).await?.map_or(0, |(seq, _)| seq);
    let checkpoints = app.store.audit_checkpoints(chain).await?;
    Ok(AuditInfo {
        entries,
        checkpoints: checkpoints.len() as u64,
        last_checkpoint_ms: checkpoints.iter().map(|c| c.at_unix_ms).max().unwrap_or(0),
    })
}

/// What the statements of measures are made from.
pub struct MeasureInputs<'a> {
    /// The tenant's domains.
    pub domains: Vec<&'a DomainRecord>,
    /// Its purposes.
    pub purposes: Vec<&'a PurposeRecord>,
    /// The root key.
    pub root: RootInfo,
    /// Encryptions per key version before the vault rotates on its own (0: never).
    pub key_use_budget: u64,
    /// The two-person rule.
    pub two_person_rule: bool,
    /// Signed checkpoints of the chain so far.
    pub checkpoints: u64,
}

fn names<'a>(domains: impl Iterator<Item = &'a DomainRecord>) -> String {
    let list: Vec<&str> = domains.map(|d| d.name.as_str()).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The measures in force, as statements a reader of the register understands.
pub fn measures(m: &MeasureInputs<'_>) -> Vec<(String, String)> {
    use crate::engine::scheme::Scheme;
    let of = |s: Scheme| names(m.domains.iter().copied().filter(move |d| d.scheme == s));
    let mut out = vec![(
        "pseudonymisation".to_owned(),
        format!(
            "Identifiers are replaced by pseudonyms per domain, and systems outside the vault \
             work on pseudonyms only. Keyed pseudonyms (HMAC-SHA-256 under the domain's key): \
             {}. Random pseudonyms (found again through a keyed blind index): {}. \
             Format-preserving pseudonyms (valid-shaped numbers from a reserved space nobody \
             holds): {}. Pseudonyms of one domain cannot be linked to those of another.",
            of(Scheme::Keyed),
            of(Scheme::Random),
            of(Scheme::FormatPreserving)
        ),
    )];
    let one_way = names(m.domains.iter().copied().filter(|d| !d.reversible));
    out.push((
        "encryption at rest".to_owned(),
        format!(
            "Reversible domains keep the identifier encrypted with AES-256-GCM under the \
             tenant's key ring, bound to its domain and pseudonym; stored rows carry an HMAC \
             that the vault checks before it releases anything. Domains that keep no \
             identifier at all (one-way): {one_way}."
        ),
    ));
    let root = match m.root.provider {
        "pkcs11" => "The root key that wraps the tenant's key ring is generated inside a \
                     PKCS#11 hardware security module as non-extractable; its bytes never \
                     leave the module."
            .to_owned(),
        "sealed" => format!(
            "The root key that wraps the tenant's key ring is sealed under {} unseal key \
             shares held by different people; a started vault serves nothing until {} of \
             them are entered.",
            m.root.shares, m.root.threshold
        ),
        _ => "The root key that wraps the tenant's key ring is kept in a file in the data \
              directory. This suits development and trials only: production installations \
              use a hardware security module or unseal shares."
            .to_owned(),
    };
    out.push(("key custody".to_owned(), root));
    out.push((
        "key rotation".to_owned(),
        match m.key_use_budget {
            0 => "The tenant key ring rotates on request; a rotation re-encrypts every stored \
                  identifier under the new version while the vault serves."
                .to_owned(),
            b => format!(
                "The tenant key ring rotates on request and on its own after {b} encryptions \
                 under one version; a rotation re-encrypts every stored identifier under the \
                 new version while the vault serves."
            ),
        },
    ));
    let consent_based: Vec<&str> = m
        .purposes
        .iter()
        .filter(|p| p.legal_basis == LegalBasis::Consent)
        .map(|p| p.name.as_str())
        .collect();
    out.push((
        "re-identification".to_owned(),
        format!(
            "A pseudonym turns back into its identifier only for a principal given the \
             reidentifier role for a named purpose, only in the domains that purpose covers, \
             never for a restricted or erased subject, and every release is audited with its \
             purpose. Purposes that rest on consent release only while the subject's consent to \
             a current text version is valid: {}.",
            if consent_based.is_empty() {
                "none".to_owned()
            } else {
                consent_based.join(", ")
            }
        ),
    ));
    out.push((
        "dual control".to_owned(),
        if m.two_person_rule {
            "The two-person rule is on: granting re-identification, widening a purpose, \
             deleting record policies and destroying keys or data wait for the approval of a \
             second, independent principal."
                .to_owned()
        } else {
            "The two-person rule is off: one tenant-admin alone can grant re-identification \
             and destroy data. Production installations turn it on."
                .to_owned()
        },
    ));
    out.push((
        "audit".to_owned(),
        format!(
            "Every act is an entry in the tenant's hash chain (SHA-256), and the chain is \
             signed at checkpoints with the tenant's Ed25519 key ({} so far); an export of it \
             verifies offline, and a witness copy shows a cut or rewritten tail.",
            m.checkpoints
        ),
    ));
    let kept: Vec<&DomainRecord> = m
        .domains
        .iter()
        .copied()
        .filter(|d| d.retention_seconds > 0 || !d.consent_purpose.is_empty())
        .collect();
    out.push((
        "storage limitation".to_owned(),
        format!(
            "Mappings of domains with a retention period, or bound to a consent, are deleted \
             by the vault when it ends: {}. Erasing a subject deletes their mappings and \
             consent evidence in every domain.",
            names(kept.into_iter())
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{engine::scheme::Scheme, model::IdentifierKind};

    fn domain(
        name: &str,
        scheme: Scheme,
        reversible: bool,
        retention_seconds: u64,
    ) -> DomainRecord {
        DomainRecord {
            id: 1,
            tenant_id: 1,
            name: name.into(),
            kind: IdentifierKind::SePersonnummer,
            scheme,
            reversible,
            retention_seconds,
            epoch: 1,
            created_ms: 0,
            old_epochs_until_ms: 0,
            retention_since_last_use: false,
            consent_purpose: String::new(),
            mac: String::new(),
        }
    }

    fn purpose(name: &str, legal_basis: LegalBasis) -> PurposeRecord {
        PurposeRecord {
            tenant_id: 1,
            name: name.into(),
            legal_basis,
            min_text_version: 0,
            default_consent_validity_seconds: 0,
            description: String::new(),
            created_ms: 0,
            updated_ms: 0,
            explicit_consent: false,
            domains: Vec::new(),
            erase_on_withdrawal: false,
            evidence_retention_seconds: 0,
            text_versions: 0,
            mac: String::new(),
        }
    }

    fn statement<'a>(all: &'a [(String, String)], name: &str) -> &'a str {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_str())
            .unwrap_or_else(|| panic!("no statement {name}"))
    }

    #[test]
    fn the_statements_name_what_is_configured_and_nothing_else() {
        let d = [
            domain("patients", Scheme::Keyed, true, 0),
            domain("visits", Scheme::Random, true, 86_400),
            domain("stats", Scheme::Keyed, false, 0),
        ];
        let research = purpose("research", LegalBasis::Consent);
        let billing = purpose("billing", LegalBasis::Contract);
        let root = RootInfo {
            provider: "sealed",
            fit_for_production: true,
            threshold: 3,
            shares: 5,
        };
        let inputs = MeasureInputs {
            domains: d.iter().collect(),
            purposes: vec![&research, &billing],
            root,
            key_use_budget: 0,
            two_person_rule: true,
            checkpoints: 4,
        };
        let all = measures(&inputs);
        assert!(statement(&all, "pseudonymisation").contains(
            "Keyed pseudonyms (HMAC-SHA-256 under the domain's key): patients, stats. Random \
             pseudonyms (found again through a keyed blind index): visits. Format-preserving \
             pseudonyms (valid-shaped numbers from a reserved space nobody holds): none."
        ));
        assert!(statement(&all, "encryption at rest").ends_with("(one-way): stats."));
        assert!(statement(&all, "key custody").contains("sealed under 5 unseal key shares"));
        assert!(statement(&all, "key custody").contains("until 3 of them"));
        assert!(
            statement(&all, "key rotation").starts_with("The tenant key ring rotates on request;")
        );
        assert!(statement(&all, "re-identification").ends_with("is valid: research."));
        assert!(statement(&all, "dual control").starts_with("The two-person rule is on"));
        assert!(statement(&all, "audit").contains("(4 so far)"));
        assert!(statement(&all, "storage limitation").contains("when it ends: visits."));

        let file = MeasureInputs {
            root: RootInfo {
                provider: "file",
                fit_for_production: false,
                threshold: 0,
                shares: 0,
            },
            key_use_budget: 1000,
            two_person_rule: false,
            purposes: vec![&billing],
            ..inputs
        };
        let all = measures(&file);
        assert!(statement(&all, "key custody").contains("development and trials only"));
        assert!(statement(&all, "key rotation").contains("after 1000 encryptions"));
        assert!(statement(&all, "re-identification").ends_with("is valid: none."));
        assert!(statement(&all, "dual control").starts_with("The two-person rule is off"));
    }
}
