//! The job family: background jobs with leases, and operations waiting for approval.

use async_trait::async_trait;

use super::{
    StoreResult,
    records::{JobRecord, PendingOpRecord},
};

/// Jobs and pending operations.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Creates or replaces a job record as given (lease fields included).
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()>;
    /// A job by id.
    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>>;
    /// Every job (all tenants), by id.
    async fn jobs(&self) -> StoreResult<Vec<JobRecord>>;
    /// Takes a running job's lease for `owner` until `until_ms`, atomically, if the job is
    /// running and its lease is free, run out (before `now_ms`) or already `owner`'s: the job as
    /// now stored, or `None` (someone else holds it, or it is not running).
    async fn claim_job(
        &self,
        id: u64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Option<JobRecord>>;
    /// Saves a job's progress if `job.lease_owner` still holds its lease (the stored record's
    /// owner): false, nothing written, when another process took it over.
    async fn save_job(&self, job: &JobRecord) -> StoreResult<bool>;

    /// Creates or replaces a pending operation.
    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()>;
    /// Replaces a pending operation if its stored state is still `from_state`, atomically:
    /// false, nothing written, when another process changed it first (so two approvers cannot
    /// both carry out one operation).
    async fn transition_pending_op(
        &self,
        op: &PendingOpRecord,
        from_state: &str,
    ) -> StoreResult<bool>;
    /// Every pending operation record (any state), by id.
    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>>;
}
