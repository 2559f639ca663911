//! The subject-event bus of this process: wakes the streams that follow a tenant's event log,
//! and remembers per tenant when the expiry ticker must look again.
//!
//! Both are hints for this process only: the log itself, and which expiry is announced, are in
//! the store (`SubjectStore::append_subject_events`, `mark_once`), so with several processes each
//! ticker announces what is due and each stream sees every event.

use std::{collections::HashMap, sync::Mutex};

/// The bus.
#[derive(Default)]
pub struct SubjectEvents {
    appended: tokio::sync::Notify,
    next_expiry: Mutex<HashMap<u64, i64>>,
}

impl SubjectEvents {
    /// Subject events were appended: wake the streams of this process.
    pub fn appended(&self) {
        self.appended.notify_waiters();
    }

    /// Waits for the next [`SubjectEvents::appended`].
    pub fn wait(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// The earliest end of a running consent of the tenant not yet announced (`None`: unknown).
    pub fn next_expiry(&self, tenant_id: u64) -> Option<i64> {
        self.next_expiry
            .lock()
            .ok()
            .and_then(|m| m.get(&tenant_id).copied())
    }

    /// After a scan at `now`: the earliest upcoming end found; an earlier one noted during the
    /// scan is kept.
    pub fn scanned(&self, tenant_id: u64, now: i64, upcoming: i64) {
        if let Ok(mut m) = self.next_expiry.lock() {
            let next = m.entry(tenant_id).or_insert(upcoming);
            *next = if *next <= now {
                upcoming
            } else {
                (*next).min(upcoming)
            };
        }
    }

    /// A consent ending at `valid_until_ms` was granted: look again by then.
    pub fn expiry_scheduled(&self, tenant_id: u64, valid_until_ms: i64) {
        if let Ok(mut m) = self.next_expiry.lock()
            && let Some(next) = m.get_mut(&tenant_id)
        {
            *next = (*next).min(valid_until_ms);
        }
    }
}
