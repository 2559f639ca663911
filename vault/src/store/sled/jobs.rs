//! sled: the job family (JSON rows in `meta`; leases and approvals by compare-and-swap; a
//! rotation page and its progress in one transaction over `meta` and the page's tree).

use async_trait::async_trait;
use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
};

use super::{
    SledStore, backend, blocking, codec::encode_mapping, consents::evidence_key,
    mappings::mapping_key, to_json,
};
use crate::store::{
    JobStore, RotationPage, StoreError, StoreResult,
    records::{JobRecord, MappingRecord, PendingOpRecord},
};

fn job_key(id: u64) -> String {
    format!("job/{id:020}")
}

fn pending_key(id: u64) -> String {
    format!("pending/{id:020}")
}

#[async_trait]
impl JobStore for SledStore {
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()> {
        self.put_json(&job_key(job.id), job)
    }

    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>> {
        self.get_json(&job_key(id))
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRecord>> {
        self.scan_json("job/")
    }

    async fn claim_job(
        &self,
        id: u64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Option<JobRecord>> {
        self.update_json::<JobRecord, _>(&job_key(id), |current| {
            let mut job = current?;
            let free = job.lease_owner.is_empty()
                || job.lease_owner == owner
                || job.lease_until_ms < now_ms;
            if !job.is_running() || !free {
                return None;
            }
            job.lease_owner = owner.to_owned();
            job.lease_until_ms = until_ms;
            Some(job)
        })
    }

    async fn save_job(&self, job: &JobRecord) -> StoreResult<bool> {
        let written = self.update_json::<JobRecord, _>(&job_key(job.id), |current| {
            (current?.lease_owner == job.lease_owner).then(|| job.clone())
        })?;
        Ok(written.is_some())
    }

    async fn commit_rotation_page(
        &self,
        job: &JobRecord,
        page: RotationPage,
    ) -> StoreResult<Option<Vec<bool>>> {
        let t = self.trees()?;
        let job = job.clone();
        let (tree_of_page, stripe, writes) = page_writes(page);
        blocking(writes.len(), move || {
            let _stripe = stripe.map(|s| t.stripe(s)).transpose()?;
            let tree = match tree_of_page {
                PageTree::Data => &t.data,
                PageTree::Evidence => &t.evidence,
            };
            let key = job_key(job.id);
            let result = (&t.meta, tree).transaction(|(meta, tree)| {
                let Some(stored) = meta.get(key.as_bytes())? else {
                    return Ok(None);
                };
                let stored: JobRecord = serde_json::from_slice(&stored).map_err(|_| {
                    ConflictableTransactionError::Abort(StoreError::Corrupt("registry row"))
                })?;
                if stored.lease_owner != job.lease_owner {
                    return Ok(None);
                }
                let made = apply_moves(tree, &writes)?;
                let mut saved = job.clone();
                saved.done += made.iter().filter(|m| **m).count() as u64;
                let bytes = to_json(&saved).map_err(ConflictableTransactionError::Abort)?;
                meta.insert(key.as_bytes(), bytes)?;
                Ok(Some(made))
            });
            let made = match result {
                Ok(made) => made,
                Err(TransactionError::Abort(e)) => return Err(e),
                Err(TransactionError::Storage(e)) => return Err(backend(e)),
            };
            if made.is_some() {
                t.commit.wrote();
            }
            Ok(made)
        })
        .await
    }

    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()> {
        self.put_json(&pending_key(op.id), op)
    }

    async fn transition_pending_op(
        &self,
        op: &PendingOpRecord,
        from_state: &str,
    ) -> StoreResult<bool> {
        let written = self.update_json::<PendingOpRecord, _>(&pending_key(op.id), |current| {
            (current?.state == from_state).then(|| op.clone())
        })?;
        Ok(written.is_some())
    }

    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>> {
        self.scan_json("pending/")
    }
}

/// The tree a rotation page writes to.
enum PageTree {
    Data,
    Evidence,
}

/// A page's tree, the stripe its writes take (mappings: the domain's, as every mapping write),
/// and each move as (key, expected bytes, new bytes).
type PageWrites = (PageTree, Option<u64>, Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>);

fn page_writes(page: RotationPage) -> PageWrites {
    match page {
        RotationPage::Mappings { domain_id, moves } => {
            let writes = moves
                .into_iter()
                .map(|m| {
                    let next = MappingRecord {
                        ciphertext: Some(m.ciphertext),
                        ..m.current.clone()
                    };
                    (
                        mapping_key(domain_id, &m.pseudonym),
                        encode_mapping(&m.current),
                        encode_mapping(&next),
                    )
                })
                .collect();
            (PageTree::Data, Some(domain_id), writes)
        }
        RotationPage::Evidence { tenant_id, moves } => {
            let writes = moves
                .into_iter()
                .map(|m| (evidence_key(tenant_id, &m.id), m.current, m.ciphertext))
                .collect();
            (PageTree::Evidence, None, writes)
        }
    }
}

/// Writes each `(key, expected, next)` whose stored value is `expected`: which were written.
fn apply_moves(
    tree: &TransactionalTree,
    writes: &[(Vec<u8>, Vec<u8>, Vec<u8>)],
) -> Result<Vec<bool>, ConflictableTransactionError<StoreError>> {
    let mut made = Vec::with_capacity(writes.len());
    for (key, expected, next) in writes {
        let matches = tree
            .get(key)?
            .is_some_and(|stored| stored.as_ref() == expected.as_slice());
        if matches {
            tree.insert(key.as_slice(), next.as_slice())?;
        }
        made.push(matches);
    }
    Ok(made)
}
