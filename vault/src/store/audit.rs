//! The audit family: hash-chained entries and signed checkpoints.

use async_trait::async_trait;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::{StoreResult, records::AuditRecord};

/// Audit chains (0 = operator chain, else the tenant id).
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends entries to a chain: the store assigns each the next sequence number and links it
    /// to the previous entry's hash, atomically with respect to every other append to that
    /// chain, from this process or another — a chain never forks and has no gap. The entries
    /// are durable after the next [`Durability::sync`](super::Durability::sync).
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()>;
    /// Like [`AuditStore::append_audit`], but the entries need not be durable before the next
    /// flush that something else asks for (for acts whose audit may trail, such as pseudonymise
    /// counts); [`Durability::sync_all`](super::Durability::sync_all) covers them. Back-ends
    /// without that distinction append normally.
    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append_audit(chain, entries).await
    }
    /// Up to `limit` entries of a chain in sequence order, starting at sequence number
    /// `from_seq`.
    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The last entry's sequence number and hash (`None` for an empty chain).
    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// Stores a signed checkpoint (replacing one at the same chain and sequence number).
    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()>;
    /// All checkpoints of a chain, by sequence number.
    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>>;
}
