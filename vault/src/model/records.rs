//! What the vault stores, as plain types shared by every back-end. None holds a raw identifier:
//! mappings hold the identifier only as an AES-256-GCM ciphertext.

use serde::{Deserialize, Serialize};

use super::{IdentifierKind, Scheme, SubjectHandle};

/// A tenant (data controller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Numeric id, bound into key derivation and AAD.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_ms: i64,
    /// When its key ring was destroyed (0: never).
    #[serde(default)]
    pub shredded_ms: i64,
    /// Below this age a consent needs a guardian (0: the default, [`DEFAULT_AGE_OF_CONSENT`]).
    #[serde(default)]
    pub age_of_consent: u32,
    /// New identifiers one principal may pseudonymise per hour (`None`: the server's default;
    /// 0: no limit). Absent from rows that never set it, so their MAC stays as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_identifiers_per_hour: Option<u64>,
    /// Crossing this many new identifiers in an hour is reported (`None`: the server's default;
    /// 0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_identifiers_warning_per_hour: Option<u64>,
    /// Calls one principal may make per second on each node (`None`: the server's default; 0:
    /// no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u64>,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// GDPR Art. 8's default age of consent, used until a tenant sets its own.
pub const DEFAULT_AGE_OF_CONSENT: u32 = 16;

/// One version of a purpose's consent text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentTextRecord {
    /// Purpose name.
    pub purpose: String,
    /// Version, from 1.
    pub version: u32,
    /// The text as given.
    pub text: String,
    /// SHA-256 of the text, hex.
    pub sha256: String,
    /// When it was added.
    pub added_ms: i64,
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
    /// Until when pseudonyms of earlier epochs still re-identify (0: never after a rotation).
    #[serde(default)]
    pub old_epochs_until_ms: i64,
    /// Retention counts from the last use (pseudonymised again, or released), not creation.
    #[serde(default)]
    pub retention_since_last_use: bool,
    /// A mapping lives no longer than the subject's consent for this purpose (empty: unbound).
    #[serde(default)]
    pub consent_purpose: String,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// Legal basis of a purpose (GDPR Art. 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegalBasis {
    /// Art. 6(1)(a).
    #[default]
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

impl LegalBasis {
    /// The stored (kebab-case) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Contract => "contract",
            Self::LegalObligation => "legal-obligation",
            Self::VitalInterests => "vital-interests",
            Self::PublicTask => "public-task",
            Self::LegitimateInterests => "legitimate-interests",
        }
    }
}

/// A sharing agreement: pseudonyms of `from_domain` may be translated into `to_domain`'s for
/// `purpose` until `valid_until_ms`, by translators holding the purpose. Immutable once stored;
/// revoking deletes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementRecord {
    /// Owning tenant.
    pub tenant_id: u64,
    /// Name, unique in the tenant.
    pub name: String,
    /// Domain whose pseudonyms are translated.
    pub from_domain: String,
    /// Domain the recipient's pseudonyms are in.
    pub to_domain: String,
    /// Purpose the translation serves (its legal basis decides whether consent is checked).
    pub purpose: String,
    /// Who receives the translated data (free text: an organisation, a study).
    pub recipient: String,
    /// Why the sharing is lawful (free text: the article, a contract, an ethics approval).
    pub legal_basis: String,
    /// Translations are refused from this time on (Unix ms).
    pub valid_until_ms: i64,
    /// When it was defined.
    pub created_ms: i64,
    /// Who defined it.
    pub created_by: String,
    /// Who approved it under the two-person rule (empty: not needed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approved_by: String,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// A record policy: which fields of a JSON record are identifiers of which domain, and which
/// fields are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPolicyRecord {
    /// Owning tenant.
    pub tenant_id: u64,
    /// Name, unique in the tenant.
    pub name: String,
    /// Identifier fields: (JSON pointer, domain name, required), in policy order.
    pub fields: Vec<RecordFieldRecord>,
    /// JSON pointers of fields to drop.
    pub drop: Vec<String>,
    /// Last change.
    pub updated_ms: i64,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// One identifier field of a record policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFieldRecord {
    /// JSON pointer with `*` tokens.
    pub pointer: String,
    /// Domain of the field's identifiers.
    pub domain: String,
    /// Records without the field are refused.
    pub required: bool,
}

/// A purpose of processing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// GDPR Art. 9 explicit consent (special categories).
    #[serde(default)]
    pub explicit_consent: bool,
    /// Domains covered (empty: all).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Withdrawal erases the subject's mappings in the covered domains.
    #[serde(default)]
    pub erase_on_withdrawal: bool,
    /// Evidence kept this long after withdrawal or expiry (0: until erasure).
    #[serde(default)]
    pub evidence_retention_seconds: u64,
    /// Consent text versions added so far.
    #[serde(default)]
    pub text_versions: u32,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// A role from docs/concepts.md.
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
    /// Translates pseudonyms between domains under a sharing agreement.
    Translator,
}

impl Role {
    /// The role's name as in docs/concepts.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::TenantAdmin => "tenant-admin",
            Self::Tokenizer => "tokenizer",
            Self::Reidentifier => "reidentifier",
            Self::ConsentManager => "consent-manager",
            Self::SubjectOfficer => "subject-officer",
            Self::KeyOfficer => "key-officer",
            Self::Auditor => "auditor",
            Self::Translator => "translator",
        }
    }
}

/// A caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The principal that created this one ("" for the first operator). With [`Self::enrolled_ms`]
    /// it decides who else may have held this principal's token (`ops::independence`).
    #[serde(default)]
    pub created_by: String,
    /// When its holder claimed it with an enrolment code and chose its token (0: the token was
    /// handed to its creator).
    #[serde(default)]
    pub enrolled_ms: i64,
    /// While it waits to be claimed: the enrolment code's hash and deadline. It has no token then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<EnrolmentRecord>,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// An enrolment code waiting to be claimed (single use, short-lived).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRecord {
    /// SHA-256 of the code's secret part, hex.
    pub code_sha256: String,
    /// The code is refused from then on.
    pub expires_ms: i64,
    /// When it was claimed (0: not yet). Kept, so a second claim is told it came too late.
    #[serde(default)]
    pub claimed_ms: i64,
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

/// One audit entry as an act builds it. Never holds an identifier: subjects appear as handles,
/// items as pseudonyms. The store assigns its chain position and hashes it into the chain
/// ([`AuditRecord::chained`]); what is stored and read back is the wire form
/// [`valv_proto::v1::AuditEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditRecord {
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
    /// Overall outcome, if there is one.
    pub verdict: Option<String>,
    /// The request id of the call.
    pub request_id: String,
    /// Counts, e.g. items, created, refused.
    pub counts: Vec<(String, u64)>,
    /// Per-item (target, outcome), e.g. (pseudonym, verdict).
    pub items: Vec<(String, String)>,
    /// The subject handle (hex) of each item that names one, by position in `items` (shorter
    /// than `items`, or empty strings, where items name none).
    pub item_subjects: Vec<String>,
    /// What an administrative act changed: (field, before, after).
    pub changes: Vec<(String, String, String)>,
}

impl AuditRecord {
    /// The entry at `seq` of `chain` after `prev_hash`, with its hash set.
    pub fn chained(self, chain: u64, seq: u64, prev_hash: Vec<u8>) -> valv_proto::v1::AuditEntry {
        use valv_proto::v1::{AuditChange, AuditCount, AuditEntry, AuditItem};
        let mut e = AuditEntry {
            chain,
            seq,
            at_unix_ms: self.at_ms,
            principal: self.principal,
            action: self.action,
            domain: self.domain.unwrap_or_default(),
            purpose: self.purpose.unwrap_or_default(),
            subject: self.subject.unwrap_or_default(),
            verdict: self.verdict.unwrap_or_default(),
            request_id: self.request_id,
            counts: self
                .counts
                .into_iter()
                .map(|(name, value)| AuditCount { name, value })
                .collect(),
            items: {
                let mut subjects = self.item_subjects.into_iter();
                self.items
                    .into_iter()
                    .map(|(target, outcome)| AuditItem {
                        target,
                        outcome,
                        subject: subjects.next().unwrap_or_default(),
                    })
                    .collect()
            },
            changes: self
                .changes
                .into_iter()
                .map(|(field, before, after)| AuditChange {
                    field,
                    before,
                    after,
                })
                .collect(),
            prev_hash,
            hash: Vec::new(),
        };
        e.hash = valv_proto::audit::entry_hash(&e).to_vec();
        e
    }
}

/// A background job (key rotation, retention run), persisted so it resumes after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Unique id.
    pub id: u64,
    /// Tenant it works on.
    pub tenant_id: u64,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub state: JobState,
    /// Key version records are moved to.
    pub target_version: u32,
    /// Records handled so far.
    pub done: u64,
    /// Records to handle (counted when the job started).
    pub total: u64,
    /// Start time.
    pub started_ms: i64,
    /// End time (0 while running).
    pub finished_ms: i64,
    /// Resume point: index into the tenant's domains (by id) …
    pub cursor_domain: usize,
    /// … and the last pseudonym handled in that domain (hex; empty = from the start).
    pub cursor_after_hex: String,
    /// Why it failed.
    pub error: String,
    /// Principal that started it.
    pub started_by: String,
    /// Passes over the records so far (a rotation walks again while records are left behind).
    #[serde(default)]
    pub pass: u32,
    /// The process that holds the job's lease (empty: nobody).
    #[serde(default)]
    pub lease_owner: String,
    /// Until when the lease holds; after that another process may take the job over.
    #[serde(default)]
    pub lease_until_ms: i64,
}

/// What a background job does (stored by these names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Re-encrypts every record of a tenant under a new key version, then retires the old ones.
    #[default]
    RotateTenantKey,
    /// Deletes what retention says is due.
    Retention,
}

impl JobKind {
    /// The kind's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RotateTenantKey => "rotate-tenant-key",
            Self::Retention => "retention",
        }
    }
}

/// Where a background job stands (stored by these names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Has work to do.
    #[default]
    Running,
    /// Ended with every record handled.
    Done,
    /// Ended with an error (see [`JobRecord::error`]).
    Failed,
}

impl JobRecord {
    /// Whether the job still has work to do.
    pub fn is_running(&self) -> bool {
        self.state == JobState::Running
    }
}

/// An operation waiting for a second principal's approval (two-person rule): a destructive one,
/// or one that widens who can re-identify.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOpRecord {
    /// Unique id.
    pub id: u64,
    /// Tenant it acts on (0: operator operations).
    pub tenant_id: u64,
    /// What it does, e.g. `destroy-key-version`.
    pub kind: String,
    /// Key version it names, if any.
    pub version: u32,
    /// Whether records under the version may be lost.
    pub force: bool,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_ms: i64,
    /// Approval must come before this.
    pub expires_ms: i64,
    /// `pending`, `approved` or `expired`.
    pub state: String,
    /// Who approved.
    pub approved_by: String,
    /// The tenant an operator operation acts on (shredding).
    #[serde(default)]
    pub target_tenant: u64,
    /// What the operation will store when approved (JSON of the record it creates or changes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub payload: String,
    /// What it changes, for the approver to read and for the audit: (field, before, after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<(String, String, String)>,
}

/// A restriction of processing (GDPR Art. 18) on a subject: re-identification is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestrictionRecord {
    /// Subject handle, hex.
    pub subject: String,
    /// Since when.
    pub since_ms: i64,
    /// Principal that restricted.
    pub by: String,
    /// Why (free text, no identifier).
    pub reason: String,
    /// HMAC of the row under its tenant's row-integrity key (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// What is left of an erased subject (GDPR Art. 17): proof that the erasure happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneRecord {
    /// Subject handle, hex (a tenant-keyed hash; no identifier).
    pub subject: String,
    /// When.
    pub erased_ms: i64,
    /// Principal that erased.
    pub by: String,
    /// Request id of the erasure.
    pub request_id: String,
    /// Mappings deleted.
    pub mappings: u64,
    /// Consent events deleted.
    pub consent_events: u64,
    /// Evidence records deleted.
    pub evidence: u64,
    /// The erasure tweak, hex (16 random bytes): a subject pseudonymised again after the
    /// erasure gets keyed pseudonyms under it, so they differ from the erased ones. Empty in
    /// tombstones written before tweaks existed (those count as the all-zero tweak).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tweak: String,
    /// HMAC of the row (all but the counts) under its tenant's row-integrity key
    /// (`engine::integrity`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

/// One entry of a tenant's subject-event log (what downstream systems must be told).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectEventRecord {
    /// Position, from 1 (assigned by the store).
    pub seq: u64,
    /// When.
    pub at_ms: i64,
    /// `consent-granted`, `consent-withdrawn`, `consent-expired`, `restricted`,
    /// `restriction-lifted`, `erased`.
    pub kind: String,
    /// Subject handle, hex.
    pub subject: String,
    /// Purpose (consent events).
    pub purpose: String,
    /// Domain concerned.
    pub domain: String,
    /// Pseudonym concerned.
    pub pseudonym: String,
}
