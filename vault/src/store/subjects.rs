//! The subject family: restrictions, erasure tombstones, the subject-event log, markers, and
//! erasure as one unit of work.

use async_trait::async_trait;

use super::{
    StoreResult,
    records::{RestrictionRecord, SubjectEventRecord, TombstoneRecord},
};
use crate::model::SubjectHandle;

/// One subject's erasure, carried out by [`SubjectStore::erase_subject`] as a unit of work.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    /// The subject.
    pub subject: SubjectHandle,
    /// Mappings to delete: (domain id, pseudonym, blind-index entry).
    pub mappings: Vec<(u64, Vec<u8>, Option<[u8; 16]>)>,
    /// Evidence records to delete, by receipt id.
    pub evidence: Vec<Vec<u8>>,
    /// Subject events to append (sequence numbers assigned by the store).
    pub events: Vec<SubjectEventRecord>,
    /// The tombstone to leave; its counts are filled in by the store with what it deleted.
    pub tombstone: TombstoneRecord,
}

/// Restrictions, tombstones and the subject-event log.
#[async_trait]
pub trait SubjectStore: Send + Sync + 'static {
    /// Stores a restriction (replacing one of the same subject); raises the tenant's change
    /// counter.
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()>;
    /// Removes a subject's restriction; true if there was one. Raises the tenant's change
    /// counter.
    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool>;
    /// Every restriction of a tenant, by subject.
    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>>;
    /// Stores an erasure tombstone.
    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()>;
    /// A subject's tombstone.
    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>>;
    /// Every tombstone of a tenant, by subject.
    async fn tombstones(&self, tenant_id: u64) -> StoreResult<Vec<TombstoneRecord>>;
    /// Every marker set so far whose key starts with `prefix`, in key order.
    async fn marks(&self, prefix: &str) -> StoreResult<Vec<String>>;
    /// Erases a subject as one unit of work — all of it or nothing: deletes the listed mappings
    /// (with their blind-index entries) and evidence, every consent event and the restriction
    /// of the subject, appends the events and stores the tombstone with the counts of what was
    /// deleted, which it returns. Raises the tenant's change counter.
    async fn erase_subject(&self, tenant_id: u64, erasure: Erasure)
    -> StoreResult<TombstoneRecord>;

    /// Appends subject events (sequence numbers assigned here, in order, atomically across
    /// processes).
    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()>;
    /// Up to `limit` subject events with a sequence number above `after`, in order.
    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>>;
    /// Sets a marker once: true for exactly one caller, across processes (e.g. "expiry of this
    /// consent announced").
    async fn mark_once(&self, key: &str) -> StoreResult<bool>;
}
