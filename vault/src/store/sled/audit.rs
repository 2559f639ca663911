//! sled: the audit family (the `audit` and `audit_checkpoints` trees).
//!
//! The next sequence number and previous hash of each chain are kept in memory after the first
//! append (sled is opened by one process only, so this is the stored head) and changed only with
//! the map locked, after the entries are written.

use std::sync::Arc;

use async_trait::async_trait;
use prost::Message;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::{SledStore, backend, blocking, write_atomically};
use crate::store::{AuditStore, StoreError, StoreResult, records::AuditRecord};

fn audit_key(chain: u64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&chain.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl SledStore {
    /// The last stored entry of an audit chain.
    fn last_audit_entry(&self, chain: u64) -> StoreResult<Option<AuditEntry>> {
        let last = self
            .trees
            .audit
            .scan_prefix(chain.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(backend)?;
        last.map(|(_, v)| {
            AuditEntry::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("audit entry"))
        })
        .transpose()
    }
}

#[async_trait]
impl AuditStore for SledStore {
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append_audit_lazy(chain, entries).await?;
        self.commit.wrote();
        Ok(())
    }

    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let mut next = self
            .trees
            .audit_next
            .lock()
            .map_err(|_| backend("lock poisoned"))?;
        let (mut seq, mut prev) = match next.get(&chain) {
            Some(head) => head.clone(),
            None => match self.last_audit_entry(chain)? {
                Some(last) => (last.seq + 1, last.hash),
                None => (1, valv_proto::audit::GENESIS.to_vec()),
            },
        };
        let mut writes = Vec::with_capacity(entries.len());
        for record in entries {
            let entry = record.chained(chain, seq, prev);
            writes.push((audit_key(chain, seq), entry.encode_to_vec()));
            prev = entry.hash;
            seq += 1;
        }
        write_atomically(&self.trees.audit, writes)?;
        next.insert(chain, (seq, prev));
        Ok(())
    }

    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let trees = Arc::clone(&self.trees);
        blocking(limit, move || {
            trees
                .audit
                .range(audit_key(chain, from_seq)..audit_key(chain.saturating_add(1), 0))
                .take(limit)
                .map(|kv| {
                    let (_, v) = kv.map_err(backend)?;
                    AuditEntry::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("audit entry"))
                })
                .collect()
        })
        .await
    }

    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        if let Some((next, hash)) = self
            .trees
            .audit_next
            .lock()
            .map_err(|_| backend("lock poisoned"))?
            .get(&chain)
        {
            return Ok((*next > 1).then(|| (next - 1, hash.clone())));
        }
        Ok(self.last_audit_entry(chain)?.map(|e| (e.seq, e.hash)))
    }

    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()> {
        self.trees
            .audit_checkpoints
            .insert(
                audit_key(checkpoint.chain, checkpoint.seq),
                checkpoint.encode_to_vec(),
            )
            .map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        self.trees
            .audit_checkpoints
            .scan_prefix(chain.to_be_bytes())
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                AuditCheckpoint::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("checkpoint"))
            })
            .collect()
    }
}
