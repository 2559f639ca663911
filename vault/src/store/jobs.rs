//! The job family: background jobs with leases, and operations waiting for approval.

use async_trait::async_trait;

use super::{
    StoreResult,
    records::{JobRecord, MappingRecord, PendingOpRecord},
};

/// A mapping's new ciphertext, written only if the row is still exactly `current`.
#[derive(Clone, Debug)]
pub struct MappingMove {
    /// The mapping's key in its domain.
    pub pseudonym: Vec<u8>,
    /// The row as the job read it.
    pub current: MappingRecord,
    /// The row's ciphertext sealed anew under the target version.
    pub ciphertext: Vec<u8>,
}

/// An evidence record's new ciphertext, written only if it is still `current`.
#[derive(Clone, Debug)]
pub struct EvidenceMove {
    /// The evidence record's id in its tenant.
    pub id: Vec<u8>,
    /// The ciphertext as the job read it.
    pub current: Vec<u8>,
    /// The evidence sealed anew under the target version.
    pub ciphertext: Vec<u8>,
}

/// One page of a key rotation's re-encryption: records of one domain, or consent evidence of
/// one tenant.
#[derive(Clone, Debug)]
pub enum RotationPage {
    /// Mappings of one domain.
    Mappings {
        /// The domain.
        domain_id: u64,
        /// Its records to move.
        moves: Vec<MappingMove>,
    },
    /// Consent evidence of one tenant.
    Evidence {
        /// The tenant.
        tenant_id: u64,
        /// Its records to move.
        moves: Vec<EvidenceMove>,
    },
}

impl RotationPage {
    /// How many records the page would move.
    pub fn len(&self) -> usize {
        match self {
            Self::Mappings { moves, .. } => moves.len(),
            Self::Evidence { moves, .. } => moves.len(),
        }
    }

    /// True for a page with nothing to move.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
    /// A rotation page and the job's progress as one unit of work: every move whose row is
    /// still exactly its `current` gets the new ciphertext, and `job` is saved (as
    /// [`JobStore::save_job`] would) with `done` raised by the number of moves made — all of it
    /// or none, so no crash can keep a moved record without the progress that counts it. Which
    /// moves were made, in order; `None`, nothing written, when another process holds the lease.
    async fn commit_rotation_page(
        &self,
        job: &JobRecord,
        page: RotationPage,
    ) -> StoreResult<Option<Vec<bool>>>;

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
