//! sled: the audit family (the `audit`, `audit_checkpoints` and `audit_subjects` trees).
//!
//! The next sequence number and previous hash of each chain are kept in memory after the first
//! append (sled is opened by one process only, so this is the stored head) and changed only with
//! the map locked, after the entries are written. Entries that name a subject are written with
//! their subject-index keys in one transaction over both trees; the others (most of them:
//! pseudonymise counts) keep the single-tree write.

use std::sync::Arc;

use async_trait::async_trait;
use prost::Message;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use sled::{Transactional, transaction::TransactionError};

use super::{
    SledStore, backend, blocking,
    subject_index::{index_keys, subject_key, subject_prefix},
    write_atomically,
};
use crate::store::{
    AuditStore, StoreError, StoreResult, audit::decode_entry, records::AuditRecord,
};

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
            .trees()?
            .audit
            .scan_prefix(chain.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(backend)?;
        last.map(|(_, v)| decode_entry(&v)).transpose()
    }
}

#[async_trait]
impl AuditStore for SledStore {
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let t = self.trees()?;
        self.append_audit_lazy(chain, entries).await?;
        t.commit.wrote();
        Ok(())
    }

    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let t = self.trees()?;
        let mut next = t.audit_next.lock().map_err(|_| backend("lock poisoned"))?;
        let (mut seq, mut prev) = match next.get(&chain) {
            Some(head) => head.clone(),
            None => match self.last_audit_entry(chain)? {
                Some(last) => (last.seq + 1, last.hash),
                None => (1, valv_proto::audit::GENESIS.to_vec()),
            },
        };
        let mut writes = Vec::with_capacity(entries.len());
        let mut index = Vec::new();
        for record in entries {
            let entry = record.chained(chain, seq, prev);
            index.extend(index_keys(&entry));
            writes.push((audit_key(chain, seq), entry.encode_to_vec()));
            prev = entry.hash;
            seq += 1;
        }
        if index.is_empty() {
            write_atomically(&t.audit, writes)?;
        } else {
            (&t.audit, &t.audit_subjects)
                .transaction(|(audit, subjects)| {
                    for (k, v) in &writes {
                        audit.insert(k.as_slice(), v.as_slice())?;
                    }
                    for k in &index {
                        subjects.insert(k.as_slice(), &[] as &[u8])?;
                    }
                    Ok(())
                })
                .map_err(|e: TransactionError<()>| match e {
                    TransactionError::Storage(e) => backend(e),
                    TransactionError::Abort(()) => backend("audit append aborted"),
                })?;
        }
        next.insert(chain, (seq, prev));
        Ok(())
    }

    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        blocking(limit, move || {
            trees
                .audit
                .range(audit_key(chain, from_seq)..audit_key(chain.saturating_add(1), 0))
                .take(limit)
                .map(|kv| {
                    let (_, v) = kv.map_err(backend)?;
                    decode_entry(&v)
                })
                .collect()
        })
        .await
    }

    async fn subject_audit(
        &self,
        chain: u64,
        subject: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        let subject = subject.to_owned();
        blocking(limit, move || {
            let prefix = subject_prefix(chain, &subject);
            let from = subject_key(chain, &subject, after.saturating_add(1));
            let mut out = Vec::new();
            for kv in trees.audit_subjects.range(from..) {
                let (k, _) = kv.map_err(backend)?;
                if out.len() >= limit || !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                    break;
                }
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&k[prefix.len()..]);
                let seq = u64::from_be_bytes(seq);
                let Some(v) = trees.audit.get(audit_key(chain, seq)).map_err(backend)? else {
                    return Err(StoreError::Corrupt(
                        "subject index names a missing audit entry",
                    ));
                };
                out.push(decode_entry(&v)?);
            }
            Ok(out)
        })
        .await
    }

    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        if let Some((next, hash)) = self
            .trees()?
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
        let t = self.trees()?;
        t.audit_checkpoints
            .insert(
                audit_key(checkpoint.chain, checkpoint.seq),
                checkpoint.encode_to_vec(),
            )
            .map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        let t = self.trees()?;
        t.audit_checkpoints
            .scan_prefix(chain.to_be_bytes())
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                AuditCheckpoint::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("checkpoint"))
            })
            .collect()
    }
}
