//! The jobs this process runs right now, with when it (re)started each and how far the job was
//! then: the base of a job's rate, and what keeps a job from being started twice here. Per vault
//! instance (two vaults in one process keep their own), never shared with other processes —
//! which process runs a job is the job's lease in the store.

use std::{collections::HashMap, sync::Mutex, time::Instant};

/// Jobs running in this vault instance.
#[derive(Default)]
pub struct Running(Mutex<HashMap<u64, (Instant, u64)>>);

impl Running {
    /// Job `id` starts (or resumes) here, `done` records in.
    pub fn start(&self, id: u64, done: u64) {
        if let Ok(mut r) = self.0.lock() {
            r.insert(id, (Instant::now(), done));
        }
    }

    /// Job `id` stopped running here.
    pub fn end(&self, id: u64) {
        if let Ok(mut r) = self.0.lock() {
            r.remove(&id);
        }
    }

    /// Whether job `id` runs here (a poisoned lock answers yes, so nothing starts twice).
    pub fn contains(&self, id: u64) -> bool {
        self.0.lock().map_or(true, |r| r.contains_key(&id))
    }

    /// When job `id` (re)started here and how far it was then.
    pub fn since(&self, id: u64) -> Option<(Instant, u64)> {
        self.0.lock().ok().and_then(|r| r.get(&id).copied())
    }
}
