//! The in-memory back-end: every family over `BTreeMap`s behind one lock, for unit tests of the
//! use cases and for fault injection. Not durable: `sync` returns at once and nothing survives
//! the process. Not for production (the server never picks it on its own).
//!
//! Every call is one critical section of the lock, so each method is atomic by construction;
//! the conformance suite checks that the behaviour matches the other back-ends.
//!
//! [`Faults`] makes chosen methods fail with a back-end error, so a test can see what the vault
//! does when, say, the audit log cannot be written.

mod data;
mod registry;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::{
    Durability, StoreError, StoreResult,
    records::{
        AgreementRecord, ConsentTextRecord, DomainRecord, JobRecord, MappingRecord,
        PendingOpRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord, RestrictionRecord,
        SubjectEventRecord, TenantRecord, TombstoneRecord,
    },
};
use crate::model::{ConsentEvent, SubjectHandle};

/// Methods that fail on command (by method name, e.g. `"append_audit"`).
#[derive(Debug, Default)]
pub struct Faults {
    failing: Mutex<HashSet<String>>,
    /// Methods that work this many more times, then fail.
    countdown: Mutex<std::collections::HashMap<String, u64>>,
    /// Compare-and-swap methods that lose this many more times to a concurrent change.
    conflicts: Mutex<std::collections::HashMap<String, u64>>,
    /// Methods whose next call waits at its start until the test lets it go.
    holds: Mutex<std::collections::HashMap<String, Arc<Hold>>>,
}

/// A call held at the start of a method: the test learns that it got there and lets it go on.
#[derive(Debug, Default)]
pub struct Hold {
    reached: tokio::sync::Notify,
    released: tokio::sync::Notify,
}

impl Hold {
    /// Waits until the held call has got there.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held call go on.
    pub fn release(&self) {
        self.released.notify_one();
    }
}

impl Faults {
    /// Makes `method` fail from now on.
    pub fn fail(&self, method: &str) {
        if let Ok(mut f) = self.failing.lock() {
            f.insert(method.to_owned());
        }
    }

    /// Lets `method` work `n` more times, then makes it fail (a crash at a chosen moment).
    pub fn fail_after(&self, method: &str, n: u64) {
        if let Ok(mut c) = self.countdown.lock() {
            c.insert(method.to_owned(), n);
        }
    }

    /// Makes the next `n` calls of `replace_ciphertext` lose to a concurrent change: the row
    /// changes (in a field no ciphertext is bound to, so it still opens) and the call answers
    /// false.
    pub fn conflict(&self, method: &str, n: u64) {
        if let Ok(mut c) = self.conflicts.lock() {
            c.insert(method.to_owned(), n);
        }
    }

    /// Whether this call of `method` is to lose to a concurrent change.
    fn conflicting(&self, method: &str) -> bool {
        let Ok(mut c) = self.conflicts.lock() else {
            return false;
        };
        match c.get_mut(method) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    /// Holds the next call of `method` at its start (before it touches the state).
    pub fn hold(&self, method: &str) -> Arc<Hold> {
        let hold = Arc::new(Hold::default());
        if let Ok(mut h) = self.holds.lock() {
            h.insert(method.to_owned(), Arc::clone(&hold));
        }
        hold
    }

    /// Where a held method waits (a no-op unless [`Faults::hold`] named it).
    async fn held(&self, method: &str) {
        let hold = self.holds.lock().ok().and_then(|mut h| h.remove(method));
        if let Some(hold) = hold {
            hold.reached.notify_one();
            hold.released.notified().await;
        }
    }

    /// Makes every method work again.
    pub fn heal(&self) {
        if let Ok(mut f) = self.failing.lock() {
            f.clear();
        }
        if let Ok(mut c) = self.countdown.lock() {
            c.clear();
        }
    }

    fn check(&self, method: &str) -> StoreResult<()> {
        if let Ok(mut c) = self.countdown.lock()
            && let Some(left) = c.get_mut(method)
        {
            if *left == 0 {
                drop(c);
                self.fail(method);
            } else {
                *left -= 1;
            }
        }
        let failing = self
            .failing
            .lock()
            .map_err(|_| StoreError::Backend("fault table lock poisoned".into()))?;
        if failing.contains(method) {
            return Err(StoreError::Backend(format!("injected failure of {method}")));
        }
        Ok(())
    }
}

/// Everything stored, by the same keys the other back-ends use.
#[derive(Default)]
struct State {
    next_id: u64,
    tenants: BTreeMap<u64, TenantRecord>,
    tenant_names: BTreeMap<String, u64>,
    generations: BTreeMap<u64, u64>,
    keys: BTreeMap<u64, WrappedTenantKeys>,
    usage: BTreeMap<(u64, u32), u64>,
    budgets: HashMap<String, (i64, u64)>,
    domains: BTreeMap<(u64, String), DomainRecord>,
    purposes: BTreeMap<(u64, String), PurposeRecord>,
    policies: BTreeMap<(u64, String), RecordPolicyRecord>,
    agreements: BTreeMap<(u64, String), AgreementRecord>,
    principals: BTreeMap<String, PrincipalRecord>,
    certs: BTreeMap<String, String>,
    mappings: BTreeMap<(u64, Vec<u8>), MappingRecord>,
    blind: BTreeMap<(u64, [u8; 16]), Vec<u8>>,
    consents: BTreeMap<(u64, SubjectHandle, String, u64), ConsentEvent>,
    texts: BTreeMap<(u64, String, u32), ConsentTextRecord>,
    evidence: BTreeMap<(u64, Vec<u8>), Vec<u8>>,
    restrictions: BTreeMap<(u64, String), RestrictionRecord>,
    tombstones: BTreeMap<(u64, String), TombstoneRecord>,
    subject_events: BTreeMap<(u64, u64), SubjectEventRecord>,
    marks: BTreeSet<String>,
    audit: BTreeMap<(u64, u64), AuditEntry>,
    checkpoints: BTreeMap<(u64, u64), AuditCheckpoint>,
    jobs: BTreeMap<u64, JobRecord>,
    pending: BTreeMap<u64, PendingOpRecord>,
}

impl State {
    fn bump(&mut self, tenant_id: u64) {
        *self.generations.entry(tenant_id).or_insert(0) += 1;
    }
}

/// The in-memory store.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
    faults: Arc<Faults>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose methods fail when `faults` says so.
    pub fn with_faults(faults: Arc<Faults>) -> Self {
        Self {
            state: Mutex::default(),
            faults,
        }
    }

    /// The state, after the fault check for `method`.
    fn state(&self, method: &str) -> StoreResult<MutexGuard<'_, State>> {
        self.faults.check(method)?;
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("lock poisoned".into()))
    }
}

#[async_trait]
impl Durability for MemStore {
    async fn sync(&self) -> StoreResult<()> {
        self.faults.check("sync")
    }

    async fn sync_all(&self) -> StoreResult<()> {
        self.faults.check("sync_all")
    }

    async fn size_on_disk(&self) -> StoreResult<u64> {
        self.faults.check("size_on_disk")?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    crate::conformance_suite!(crate::store::conformance::fixture::mem());
}
