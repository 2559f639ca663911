//! A bounded memory of mapping keys known to be stored, so that repeated identifiers (a data
//! platform re-sending yesterday's table) skip the store lookup.
//!
//! It holds pseudonyms and domain ids only — never an identifier — in a fixed table of
//! [`SLOTS`] entries (about 50 MiB, allocated on first use), one entry per slot: a new key simply replaces whatever
//! shared its slot. A hit is exact (the whole key is compared), a miss only means "ask the
//! store".
//!
//! Invalidation: the embedded store, the only process writing its files, calls
//! [`KnownMappings::forget`] on every path that deletes a mapping. A store shared by several
//! processes cannot see another process's deletions that way; it files each entry under an
//! *era* and moves to a new era whenever the deletions it reads from the database change
//! (`store::postgres::known`): entries of an earlier era are never looked up again.

use std::{
    hash::{BuildHasher, RandomState},
    sync::Mutex,
};

/// Table size: a power of two.
const SLOTS: usize = 1 << 20;
/// Longest pseudonym kept (keyed and random pseudonyms are 16 bytes; longer FF1 texts are
/// simply not remembered).
const MAX_KEY: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    domain: u64,
    era: u64,
    len: u8,
    bytes: [u8; MAX_KEY],
}

impl Entry {
    fn new(domain: u64, era: u64, pseudonym: &[u8]) -> Option<Self> {
        let len = u8::try_from(pseudonym.len()).ok()?;
        let mut bytes = [0u8; MAX_KEY];
        bytes.get_mut(..pseudonym.len())?.copy_from_slice(pseudonym);
        Some(Self {
            domain,
            era,
            len,
            bytes,
        })
    }
}

/// The table. Empty slots are `None`.
pub(crate) struct KnownMappings {
    slots: Mutex<Vec<Option<Entry>>>,
    hasher: RandomState,
}

impl KnownMappings {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::new(Vec::new()),
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, entry: &Entry) -> usize {
        let h = self.hasher.hash_one((
            entry.domain,
            entry.era,
            &entry.bytes[..usize::from(entry.len)],
        ));
        // Truncation is the point: the low bits pick the slot.
        (h as usize) & (SLOTS - 1)
    }

    /// For each pseudonym of `domain`: true if it is known to be stored.
    pub(crate) fn lookup(&self, domain: u64, pseudonyms: &[Vec<u8>]) -> Vec<bool> {
        self.lookup_in(domain, 0, pseudonyms)
    }

    /// [`Self::lookup`] among the entries filed under `era`.
    pub(crate) fn lookup_in(&self, domain: u64, era: u64, pseudonyms: &[Vec<u8>]) -> Vec<bool> {
        let Ok(slots) = self.slots.lock() else {
            return vec![false; pseudonyms.len()];
        };
        pseudonyms
            .iter()
            .map(|p| {
                Entry::new(domain, era, p)
                    .is_some_and(|e| slots.get(self.slot(&e)).copied().flatten() == Some(e))
            })
            .collect()
    }

    /// Remembers that these pseudonyms of `domain` are stored (call once the write is visible).
    pub(crate) fn remember<'a>(&self, domain: u64, pseudonyms: impl Iterator<Item = &'a [u8]>) {
        self.remember_in(domain, 0, pseudonyms);
    }

    /// [`Self::remember`], filed under `era`.
    pub(crate) fn remember_in<'a>(
        &self,
        domain: u64,
        era: u64,
        pseudonyms: impl Iterator<Item = &'a [u8]>,
    ) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if slots.is_empty() {
            slots.resize(SLOTS, None);
        }
        for p in pseudonyms {
            if let Some(e) = Entry::new(domain, era, p) {
                let i = self.slot(&e);
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(e);
                }
            }
        }
    }

    /// Forgets one pseudonym of `domain` (its mapping is being deleted).
    pub(crate) fn forget(&self, domain: u64, pseudonym: &[u8]) {
        let (Ok(mut slots), Some(e)) = (self.slots.lock(), Entry::new(domain, 0, pseudonym)) else {
            return;
        };
        let i = self.slot(&e);
        if let Some(slot) = slots.get_mut(i)
            && *slot == Some(e)
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_and_forgets() {
        let k = KnownMappings::new();
        let a = vec![1u8; 16];
        let b = vec![2u8; 16];
        assert_eq!(k.lookup(7, &[a.clone(), b.clone()]), vec![false, false]);
        k.remember(7, [a.as_slice()].into_iter());
        assert_eq!(k.lookup(7, &[a.clone(), b.clone()]), vec![true, false]);
        // Same pseudonym bytes in another domain are a different key.
        assert_eq!(k.lookup(8, std::slice::from_ref(&a)), vec![false]);
        k.forget(7, &a);
        assert_eq!(k.lookup(7, std::slice::from_ref(&a)), vec![false]);
    }

    #[test]
    fn an_entry_is_known_only_in_its_era() {
        let k = KnownMappings::new();
        let a = vec![1u8; 16];
        k.remember_in(7, 3, [a.as_slice()].into_iter());
        assert_eq!(k.lookup_in(7, 3, std::slice::from_ref(&a)), vec![true]);
        assert_eq!(k.lookup_in(7, 4, std::slice::from_ref(&a)), vec![false]);
        assert_eq!(k.lookup(7, &[a]), vec![false]);
    }

    #[test]
    fn long_pseudonyms_are_never_claimed() {
        let k = KnownMappings::new();
        let long = vec![3u8; MAX_KEY + 1];
        k.remember(1, [long.as_slice()].into_iter());
        assert_eq!(k.lookup(1, &[long]), vec![false]);
    }

    #[test]
    fn a_prefix_is_not_the_key() {
        let k = KnownMappings::new();
        k.remember(1, [[5u8; 16].as_slice()].into_iter());
        assert_eq!(k.lookup(1, &[vec![5u8; 15]]), vec![false]);
    }
}
