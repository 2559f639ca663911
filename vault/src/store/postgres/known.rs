//! The known-mappings table in front of a database that several nodes share, so that a repeated
//! identifier is answered without a round trip — and never from an entry another node made
//! stale by deleting the mapping.
//!
//! Invalidation rule: every statement that deletes a mapping raises a counter of the tenant in
//! the same transaction (`tenant_generations.deletions` for a single delete, the tenant's change
//! counter for an erasure or a shred). This node reads both counters at the start of every
//! request (`RegistryStore::tenant_generation`, through `App::observe`); when either differs from
//! what it read before, the tenant moves to a new *era*, and entries are filed and looked up under
//! the era current when their row was read or written. So a deletion committed before a request
//! began is never hidden from that request: the request's own read of the counters opened a new
//! era, in which the deleted mapping was never filed. A deletion that commits while a request is
//! under way is concurrent with it, as it would be without the table.
//!
//! Entries are filed only for domains whose tenant this node learned (by inserting into them)
//! and whose counters it has read; anything else asks the database.

use std::{collections::HashMap, sync::Mutex};

use crate::store::known::KnownMappings;

/// What this node read of one tenant's counters, and the era its entries are filed under.
#[derive(Debug, Clone, Copy)]
struct Seen {
    generation: u64,
    deletions: u64,
    era: u64,
}

#[derive(Default)]
struct State {
    tenants: HashMap<u64, Seen>,
    tenant_of: HashMap<u64, u64>,
    /// The last era handed out (eras are unique across tenants).
    last_era: u64,
}

/// The table and its eras.
pub(super) struct Known {
    table: KnownMappings,
    state: Mutex<State>,
}

impl Known {
    pub(super) fn new() -> Self {
        Self {
            table: KnownMappings::new(),
            state: Mutex::new(State::default()),
        }
    }

    /// Records a read of a tenant's counters: a change (in either, compared with the highest
    /// values read so far — a slow read cannot move them back) opens a new era.
    pub(super) fn observed(&self, tenant_id: u64, generation: u64, deletions: u64) {
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let s = &mut *guard;
        match s.tenants.get_mut(&tenant_id) {
            Some(seen) if generation <= seen.generation && deletions <= seen.deletions => {}
            Some(seen) => {
                s.last_era += 1;
                *seen = Seen {
                    generation: seen.generation.max(generation),
                    deletions: seen.deletions.max(deletions),
                    era: s.last_era,
                };
            }
            None => {
                s.last_era += 1;
                let era = s.last_era;
                s.tenants.insert(
                    tenant_id,
                    Seen {
                        generation,
                        deletions,
                        era,
                    },
                );
            }
        }
    }

    /// Notes which tenant a domain belongs to (from an insert, which names both).
    pub(super) fn learn_domain(&self, tenant_id: u64, domain_id: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.tenant_of.insert(domain_id, tenant_id);
        }
    }

    /// The era to file and look up `domain_id`'s entries under now; `None`: not cached.
    pub(super) fn era(&self, domain_id: u64) -> Option<u64> {
        let s = self.state.lock().ok()?;
        let tenant = s.tenant_of.get(&domain_id)?;
        s.tenants.get(tenant).map(|seen| seen.era)
    }

    /// For each pseudonym: known to be stored, under `era`.
    pub(super) fn lookup(&self, domain_id: u64, era: Option<u64>, p: &[Vec<u8>]) -> Vec<bool> {
        match era {
            Some(era) => self.table.lookup_in(domain_id, era, p),
            None => vec![false; p.len()],
        }
    }

    /// Files pseudonyms whose rows were read or written under `era` (taken before the
    /// statement ran, so an era opened meanwhile is not given them).
    pub(super) fn remember<'a>(
        &self,
        domain_id: u64,
        era: Option<u64>,
        pseudonyms: impl Iterator<Item = &'a [u8]>,
    ) {
        if let Some(era) = era {
            self.table.remember_in(domain_id, era, pseudonyms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_either_counter_opens_a_new_era() {
        let k = Known::new();
        let p = vec![vec![1u8; 16]];
        assert_eq!(k.era(10), None, "tenant unknown");
        k.learn_domain(1, 10);
        assert_eq!(k.era(10), None, "counters not read yet");
        k.observed(1, 5, 0);
        let first = k.era(10);
        assert!(first.is_some());
        k.remember(10, first, p.iter().map(Vec::as_slice));
        assert_eq!(k.lookup(10, k.era(10), &p), vec![true]);
        // The same counters again: same era.
        k.observed(1, 5, 0);
        assert_eq!(k.era(10), first);
        // Another node deleted a mapping: new era, nothing known.
        k.observed(1, 5, 1);
        assert_ne!(k.era(10), first);
        assert_eq!(k.lookup(10, k.era(10), &p), vec![false]);
        // A slow read of older counters does not bring the old era back.
        k.observed(1, 5, 0);
        assert_eq!(k.lookup(10, k.era(10), &p), vec![false]);
        let second = k.era(10);
        k.observed(1, 6, 1);
        assert_ne!(k.era(10), second, "a change of the change counter");
    }
}
