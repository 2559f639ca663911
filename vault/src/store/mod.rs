//! Storage: one trait the engine and jobs use, with back-ends behind it.
//!
//! Back-end types (sled trees, SQL rows) never leave their module. Every back-end must pass the
//! conformance suite in `conformance.rs`; a PostgreSQL back-end follows in its own issue.

pub mod codec;
mod commit;
pub mod compact;
#[cfg(test)]
mod conformance;
mod known;
pub mod records;
pub mod sled;

use async_trait::async_trait;
use thiserror::Error;
use valv_kms::WrappedTenantKeys;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use self::records::{
    AuditRecord, ConsentTextRecord, DomainRecord, InsertOutcome, JobRecord, MappingRecord,
    NewMapping, PendingOpRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
    RestrictionRecord, SubjectEventRecord, TenantRecord, TombstoneRecord,
};
use crate::engine::{consent::ConsentEvent, subject::SubjectHandle};

/// Storage failures. Messages carry no identifiers (the store never sees one in the clear).
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique name is taken.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The back-end failed.
    #[error("storage back-end: {0}")]
    Backend(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// Writes could not be made durable.
    #[error("durable flush failed: {0}")]
    Durability(String),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the vault keeps. Writes are visible at once and durable after [`Store::sync`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A fresh id for tenants and domains (unique, never reused).
    async fn next_id(&self) -> StoreResult<u64>;

    /// Stores a new tenant with its wrapped keys. `AlreadyExists` if the name is taken.
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()>;
    /// A tenant by id.
    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>>;
    /// A tenant's wrapped keys.
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>>;

    /// Stores a new domain. `AlreadyExists` if the tenant has a domain of that name.
    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()>;
    /// Replaces an existing domain record (epoch changes).
    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()>;
    /// A domain by tenant and name.
    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>>;
    /// All domains of a tenant, by name.
    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>>;

    /// Creates or replaces a purpose.
    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()>;
    /// A purpose by tenant and name.
    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>>;
    /// All purposes of a tenant, by name.
    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>>;

    /// Creates or replaces a record policy.
    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()>;
    /// A record policy by tenant and name.
    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>>;
    /// All record policies of a tenant, by name.
    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>>;
    /// Deletes a record policy; false if there was none.
    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool>;

    /// Creates or replaces a principal (also indexes its client certificate).
    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()>;
    /// A principal by id.
    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>>;
    /// A principal by client-certificate fingerprint.
    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>>;
    /// Principals of a tenant (`None`: operators).
    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>>;

    /// Inserts mappings whose identifier has none yet, atomically per call: per row, it is stored
    /// (with its blind-index entry) or the existing pseudonym is returned. Concurrent calls for
    /// the same identifier agree on one pseudonym. `tenant_id` is for back-ends that keep it in
    /// the row (domain ids are already unique across tenants).
    ///
    /// No subject → pseudonyms index is written: a subject's pseudonyms are found again from the
    /// identifier (MAC / FF1 per domain and epoch, the blind index for `random`), or from a
    /// reversible pseudonym whose identifier the vault decrypts. A second row per mapping would
    /// halve insert throughput and add ~40 % to the disk per mapping (BENCHMARKS.md).
    async fn insert_mappings(
        &self,
        tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>>;
    /// Which of these pseudonyms have a mapping (cheaper than [`Store::mappings`]: nothing is
    /// decoded).
    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        Ok(self
            .mappings(domain_id, pseudonyms)
            .await?
            .iter()
            .map(Option::is_some)
            .collect())
    }
    /// Looks mappings up by pseudonym.
    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>>;

    /// Up to `limit` mappings of a domain in key order, after pseudonym `after` (from the start
    /// when empty), for jobs that walk every record.
    async fn scan_mappings(
        &self,
        domain_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>>;
    /// Replaces a mapping's ciphertext if the mapping is still exactly `current` (false: it
    /// changed or is gone, nothing written).
    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool>;

    /// Creates or replaces a job record.
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()>;
    /// A job by id.
    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>>;
    /// Every job (all tenants), by id.
    async fn jobs(&self) -> StoreResult<Vec<JobRecord>>;
    /// Creates or replaces a pending operation.
    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()>;
    /// Every pending operation record (any state), by id.
    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>>;
    /// Encryptions reserved per key version of a tenant (a durable upper bound of the use count).
    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>>;
    /// Records the reserved encryptions of one key version.
    async fn put_key_usage(&self, tenant_id: u64, version: u32, reserved: u64) -> StoreResult<()>;

    /// Appends a consent event (its `seq` is assigned here) and returns it.
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent>;
    /// The history of a subject for one purpose, oldest first.
    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>>;
    /// Every consent event of a tenant as (subject, purpose, event), by subject, purpose and
    /// sequence number.
    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>>;
    /// The latest event for each subject, for one purpose.
    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>>;

    /// Stores a new consent text version. `AlreadyExists` if that version exists.
    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()>;
    /// Every text version of a purpose, oldest first.
    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>>;
    /// Stores encrypted consent evidence under its receipt id.
    async fn put_evidence(&self, tenant_id: u64, id: &[u8], ciphertext: Vec<u8>)
    -> StoreResult<()>;
    /// Encrypted evidence by receipt id.
    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Up to `limit` evidence records of a tenant in id order after `after` (for jobs that
    /// re-encrypt every ciphertext).
    async fn scan_evidence(
        &self,
        tenant_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Replaces evidence if it is still exactly `current` (false: changed or gone).
    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool>;

    /// Moves a mapping's expiry if the mapping is still exactly `current` (false: changed or
    /// gone).
    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
    ) -> StoreResult<bool>;
    /// Every blind-index entry of a domain: (blind index, pseudonym).
    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>>;
    /// The pseudonym a blind-index entry points to (`random` domains).
    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>>;
    /// Deletes a mapping (and its blind-index entry, if given) for good.
    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()>;
    /// Deletes every consent event of a subject (all purposes); returns how many.
    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64>;
    /// Deletes evidence; true if there was some.
    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool>;
    /// Stores a restriction (replacing one of the same subject).
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()>;
    /// Removes a subject's restriction; true if there was one.
    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool>;
    /// Every restriction of a tenant.
    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>>;
    /// Stores an erasure tombstone.
    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()>;
    /// A subject's tombstone.
    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>>;

    /// Appends subject events (sequence numbers assigned here, in order).
    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()>;
    /// Up to `limit` subject events with a sequence number above `after`.
    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>>;
    /// Sets a marker once: true if it was not set before (e.g. "expiry of this consent
    /// announced").
    async fn mark_once(&self, key: &str) -> StoreResult<bool>;

    /// Appends entries to an audit chain (0 = operator chain, else the tenant id): assigns each
    /// the next sequence number and links it to the previous entry's hash, atomically with
    /// respect to concurrent appends to the same chain.
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()>;
    /// Like [`Store::append_audit`], but the entries need not be durable before the next flush
    /// that something else asks for (for acts whose audit may trail, such as pseudonymise
    /// counts). Back-ends without that distinction append normally.
    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append_audit(chain, entries).await
    }
    /// Up to `limit` entries of a chain in stored order, starting at sequence number `from_seq`.
    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The last entry's sequence number and hash (`None` for an empty chain).
    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// Stores a signed checkpoint.
    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()>;
    /// All checkpoints of a chain, by sequence number.
    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>>;

    /// A tenant id by name.
    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>>;
    /// Every tenant.
    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>>;
    /// Replaces a tenant record.
    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()>;
    /// Deletes a tenant's key ring (crypto-shredding).
    async fn delete_tenant_keys(&self, tenant_id: u64) -> StoreResult<()>;
    /// Every stored key ring (all tenants and the operator chain's).
    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>>;
    /// Stores (or replaces) wrapped keys without a tenant record (the operator chain's keys).
    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()>;

    /// Returns when every write made before the call is durable (group commit: one flush serves
    /// all concurrent callers).
    async fn sync(&self) -> StoreResult<()>;
    /// Like [`Store::sync`], but also covers writes made lazily (before a checkpoint signs
    /// them).
    async fn sync_all(&self) -> StoreResult<()> {
        self.sync().await
    }
    /// Asks the back-end to remove deleted data physically at the next opportunity (sled: a
    /// compaction at the next start). Back-ends that delete in place need not do anything.
    async fn request_compaction(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Bytes the store occupies on disk.
    async fn size_on_disk(&self) -> StoreResult<u64>;
}
