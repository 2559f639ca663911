//! sled: the job family (JSON rows in `meta`; leases and approvals by compare-and-swap).

use async_trait::async_trait;

use super::SledStore;
use crate::store::{
    JobStore, StoreResult,
    records::{JobRecord, PendingOpRecord},
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
