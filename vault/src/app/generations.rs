//! Each tenant's change counter as this process last read it from the store: the stamp that
//! every cache entry carries (see `ARCHITECTURE.md`, "Caches").

use std::{collections::HashMap, sync::Mutex};

/// Last-read change counters per tenant.
#[derive(Default)]
pub struct Generations(Mutex<HashMap<u64, u64>>);

impl Generations {
    /// The counter last read for a tenant (0: not read yet; a poisoned lock gives a value no
    /// entry carries, so nothing cached is served).
    pub fn current(&self, tenant_id: u64) -> u64 {
        self.0
            .lock()
            .map(|g| g.get(&tenant_id).copied().unwrap_or(0))
            .unwrap_or(u64::MAX)
    }

    /// Records a counter read from the store: whether it is newer than the one before. Counters
    /// only grow, so an older reading (a request whose read finished after another's newer one)
    /// never takes the value back: an entry cached under an older counter stays stale.
    pub fn record(&self, tenant_id: u64, now: u64) -> bool {
        match self.0.lock() {
            Ok(mut g) => match g.get_mut(&tenant_id) {
                Some(seen) if *seen >= now => false,
                Some(seen) => {
                    *seen = now;
                    true
                }
                None => {
                    g.insert(tenant_id, now);
                    true
                }
            },
            Err(_) => true,
        }
    }
}
