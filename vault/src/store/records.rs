//! What the vault stores, as plain types shared by every back-end. None holds a raw identifier:
//! mappings hold the identifier only as an AES-256-GCM ciphertext.

use serde::{Deserialize, Serialize};

use crate::engine::{identifier::IdentifierKind, scheme::Scheme, subject::SubjectHandle};

/// A tenant (data controller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Numeric id, bound into key derivation and AAD.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_ms: i64,
}

/// A pseudonymisation domain of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// Numeric id, unique across tenants.
    pub id: u64,
    /// Owning tenant.
    pub tenant_id: u64,
    /// Name, unique in the tenant.
    pub name: String,
    /// Identifier kind.
    pub kind: IdentifierKind,
    /// Pseudonym scheme.
    pub scheme: Scheme,
    /// Whether identifiers are kept (encrypted) for re-identification.
    pub reversible: bool,
    /// Mapping lifetime in seconds; 0 = until erased.
    pub retention_seconds: u64,
    /// Pseudonym epoch in use.
    pub epoch: u32,
    /// Creation time.
    pub created_ms: i64,
}

/// Legal basis of a purpose (GDPR Art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegalBasis {
    /// Art. 6(1)(a).
    Consent,
    /// Art. 6(1)(b).
    Contract,
    /// Art. 6(1)(c).
    LegalObligation,
    /// Art. 6(1)(d).
    VitalInterests,
    /// Art. 6(1)(e).
    PublicTask,
    /// Art. 6(1)(f).
    LegitimateInterests,
}

/// A purpose of processing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeRecord {
    /// Owning tenant.
    pub tenant_id: u64,
    /// Name, unique in the tenant.
    pub name: String,
    /// Legal basis.
    pub legal_basis: LegalBasis,
    /// Minimum consent text version accepted.
    pub min_text_version: u32,
    /// Default consent validity in seconds; 0 = no end.
    pub default_consent_validity_seconds: u64,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_ms: i64,
    /// Last change.
    pub updated_ms: i64,
}

/// A role from DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Creates tenants; sees no tenant data.
    Operator,
    /// Manages its tenant's domains, purposes and principals.
    TenantAdmin,
    /// Pseudonymises.
    Tokenizer,
    /// Re-identifies for its purposes.
    Reidentifier,
    /// Records and reads consents.
    ConsentManager,
    /// Access and erasure requests.
    SubjectOfficer,
    /// Key rotation.
    KeyOfficer,
    /// Reads the audit log.
    Auditor,
}

/// A caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRecord {
    /// 16 hex characters, part of the token.
    pub id: String,
    /// Tenant, or `None` for operators.
    pub tenant_id: Option<u64>,
    /// Display name.
    pub name: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Purposes it may re-identify for.
    pub purposes: Vec<String>,
    /// SHA-256 of the token's secret part, hex.
    pub token_sha256: String,
    /// SHA-256 of a bound client certificate (DER), hex.
    pub client_cert_sha256: Option<String>,
    /// Revoked principals authenticate no more.
    pub revoked: bool,
    /// Creation time.
    pub created_ms: i64,
}

/// A stored pseudonym mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRecord {
    /// Pseudonym epoch it was issued in.
    pub epoch: u32,
    /// Subject handle of the identifier.
    pub subject: SubjectHandle,
    /// Creation time.
    pub created_ms: i64,
    /// Expiry; 0 = none.
    pub expires_ms: i64,
    /// AES-256-GCM ciphertext of the normalised identifier (reversible domains only).
    pub ciphertext: Option<Vec<u8>>,
}

/// A mapping to insert if its identifier has none yet.
#[derive(Debug, Clone)]
pub struct NewMapping {
    /// For `random` domains, the blind-index entry that finds an existing token.
    pub blind: Option<[u8; 16]>,
    /// The pseudonym (storage form).
    pub pseudonym: Vec<u8>,
    /// The record.
    pub record: MappingRecord,
}

/// What happened to a [`NewMapping`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Inserted,
    /// The identifier already had this pseudonym; nothing written.
    Existing(Vec<u8>),
}

/// One audit entry. Never holds an identifier: subjects appear as handles, items as pseudonyms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in its chain (set by the store on append).
    pub seq: u64,
    /// Time.
    pub at_ms: i64,
    /// Acting principal id.
    pub principal: String,
    /// What was done, e.g. `pseudonymise`, `reidentify`, `consent.grant`.
    pub action: String,
    /// Domain name, if any.
    pub domain: Option<String>,
    /// Purpose name, if any.
    pub purpose: Option<String>,
    /// Subject handle (hex), if the act concerns one subject.
    pub subject: Option<String>,
    /// Counts, e.g. items, created, refused.
    pub counts: Vec<(String, u64)>,
    /// Per-item outcomes, e.g. (pseudonym, verdict).
    pub items: Vec<(String, String)>,
}
