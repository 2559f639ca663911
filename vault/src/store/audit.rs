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
    /// Up to `limit` entries of `chain` that name subject handle `subject` (hex) — as the
    /// entry's subject or as an item's — in sequence order, with sequence numbers above
    /// `after`. Served from an index (chain, subject → sequence numbers) that every append
    /// writes in its own unit of work, so the cost follows the subject's entries, not the
    /// chain's length; entries stored before the index existed are indexed when the back-end
    /// is opened or migrated.
    async fn subject_audit(
        &self,
        chain: u64,
        subject: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The last entry's sequence number and hash (`None` for an empty chain).
    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// Stores a signed checkpoint (replacing one at the same chain and sequence number).
    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()>;
    /// All checkpoints of a chain, by sequence number.
    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>>;
}

/// The subject handles an entry names (its own and its items'), once each, in order: what the
/// subject index holds for it.
pub(crate) fn subjects_named(e: &AuditEntry) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let all = std::iter::once(e.subject.as_str()).chain(e.items.iter().map(|i| i.subject.as_str()));
    for s in all {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A stored entry's protobuf bytes, decoded (every back-end keeps entries as protobuf).
pub(crate) fn decode_entry(bytes: &[u8]) -> StoreResult<AuditEntry> {
    use prost::Message;
    AuditEntry::decode(bytes).map_err(|_| super::StoreError::Corrupt("audit entry"))
}
