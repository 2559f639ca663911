//! Storage: the contract every back-end keeps, as trait families, and the back-ends behind it.
//!
//! A back-end implements seven families — [`RegistryStore`], [`KeyStore`], [`MappingStore`],
//! [`ConsentStore`], [`SubjectStore`], [`AuditStore`], [`JobStore`] — plus [`Durability`];
//! [`Store`] is their sum and is implemented for every type that has them all. Back-end types
//! (sled trees, SQL rows) never leave their module.
//!
//! # The contract a cluster can keep
//! Several vault processes may share one store (PostgreSQL). So every decision that must hold
//! across processes is one atomic store operation, never a process-local lock:
//! - a mapping's uniqueness: [`MappingStore::insert_mappings`] (insert if absent, per row);
//! - a key version's use count: [`KeyStore::reserve_key_usage`] (add within a limit, return the
//!   new total);
//! - an audit chain's next entry: [`AuditStore::append_audit`] (the store assigns the sequence
//!   number and links the previous hash under its own atomicity, so two writers cannot fork a
//!   chain);
//! - a consent event's and a subject event's sequence number: assigned by the store;
//! - a job's owner: [`JobStore::claim_job`] / [`JobStore::save_job`] (a lease with an expiry that
//!   another process takes over once it has run out);
//! - a rotation's progress: [`JobStore::commit_rotation_page`] (a page of moved records and the
//!   count that covers them, under the lease, as one unit);
//! - multi-write acts: [`SubjectStore::erase_subject`] and [`KeyStore::shred_tenant`] are units of
//!   work — all of it is stored, or none;
//! - caches in the vault: every change that a process may have cached (key rings, restrictions,
//!   shredding, domains, purposes) raises the tenant's change counter ([`RegistryStore::tenant_generation`]) in the
//!   same operation, after the change is visible; a process compares it on each request (see
//!   `ARCHITECTURE.md`).
//!
//! Every back-end passes the conformance suite in `conformance/` (one test per behaviour,
//! generated for each back-end by `conformance_suite!`).

#[cfg(test)]
pub(crate) mod conformance;
pub mod mem;
pub mod migrate;
pub mod operation;
pub mod postgres;
/// The stored records (kept under this name for callers of the store).
pub use crate::model::records;
pub mod sled;
pub mod traced;

mod audit;
mod consents;
mod jobs;
mod keys;
mod known;
mod mappings;
mod registry;
mod subjects;

use async_trait::async_trait;
use thiserror::Error;

pub use self::{
    audit::AuditStore,
    consents::ConsentStore,
    jobs::{EvidenceMove, JobStore, MappingMove, RotationPage},
    keys::KeyStore,
    mappings::MappingStore,
    registry::RegistryStore,
    subjects::{Erasure, SubjectStore},
};

/// Every family trait, for modules that call the store (`use crate::store::prelude::*`).
pub mod prelude {
    pub use super::{
        AuditStore, ConsentStore, Durability, JobStore, KeyStore, MappingStore, RegistryStore,
        Store, SubjectStore,
    };
}

/// Storage failures. Messages carry no identifiers (the store never sees one in the clear).
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique name is taken.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The back-end failed.
    #[error("storage back-end: {0}")]
    Backend(String),
    /// The back-end cannot be reached (a database connection) or cannot write (the embedded
    /// store's disk is full or read-only); the request changed nothing that it acknowledged and
    /// may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// Writes could not be made durable.
    #[error("durable flush failed: {0}")]
    Durability(String),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// When writes become durable, and what the back-end occupies.
#[async_trait]
pub trait Durability: Send + Sync + 'static {
    /// Returns when every write made (or observed as existing) before the call is durable
    /// (group commit: one flush serves all concurrent callers).
    async fn sync(&self) -> StoreResult<()>;
    /// Like [`Durability::sync`], but also covers writes made lazily (before a checkpoint signs
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
    /// Whether the back-end answers now (health checks): a database in reach, an embedded
    /// store whose data directory can be written.
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Begins a unit of work that may write and then `sync` (see [`operation`]): hold it from
    /// before the first store call to after the answer. A back-end that never swaps its engine
    /// tracks nothing.
    fn operation(&self) -> operation::Operation {
        operation::Operation::untracked()
    }
    /// The group commit's counts, for a back-end that groups flushes itself (the embedded
    /// store); `None` where the database does (PostgreSQL).
    fn commit_stats(&self) -> Option<CommitStats> {
        None
    }
}

/// How well the group commit groups: flushes done, and `sync` calls that waited for one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable flushes done since start.
    pub flushes: u64,
    /// `sync` calls that had writes to wait for.
    pub waits: u64,
}

/// Everything the vault keeps: the sum of the families. Writes are visible at once and durable
/// after [`Durability::sync`].
pub trait Store:
    RegistryStore
    + KeyStore
    + MappingStore
    + ConsentStore
    + SubjectStore
    + AuditStore
    + JobStore
    + Durability
{
}

impl<T> Store for T where
    T: RegistryStore
        + KeyStore
        + MappingStore
        + ConsentStore
        + SubjectStore
        + AuditStore
        + JobStore
        + Durability
{
}
