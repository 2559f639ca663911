//! sled: the mapping family (the `data` tree), with the known-mappings table in front of it.
//!
//! Group commit and visibility: a writer counts its write toward the next flush before it
//! releases the domain's stripe lock, and `contains_mappings` — the path on which pseudonymise
//! decides that a row exists and answers with it — passes through the same lock when it found a
//! row. So whoever answers a pseudonym as existing, and then calls `sync`, waits for that row's
//! flush too, even if another request wrote it a moment ago. Plain lookups (`mappings`, scans)
//! do not wait: they hand out nothing that a crash could take back from the caller who sent it,
//! and re-identification must not queue behind a large insert batch of the same domain.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;

use super::{
    SledStore, Trees, backend, blocking,
    codec::{decode_mapping, encode_mapping},
    write_atomically,
};
use crate::store::{
    MappingStore, StoreError, StoreResult,
    records::{InsertOutcome, MappingRecord, NewMapping},
};

pub(super) fn mapping_key(domain_id: u64, pseudonym: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + pseudonym.len());
    k.push(b'm');
    k.extend_from_slice(&domain_id.to_be_bytes());
    k.extend_from_slice(pseudonym);
    k
}

pub(super) fn blind_key(domain_id: u64, blind: &[u8]) -> Vec<u8> {
    let mut k = vec![b'b'];
    k.extend_from_slice(&domain_id.to_be_bytes());
    k.extend_from_slice(blind);
    k
}

/// Waits for any writer of `domain_id` that holds its stripe (see the module docs).
fn settle(trees: &Trees, domain_id: u64) -> StoreResult<()> {
    drop(trees.stripe(domain_id)?);
    Ok(())
}

impl SledStore {
    /// Replaces a mapping row if it is still exactly `current` (false: changed or gone).
    fn swap_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        next: &MappingRecord,
    ) -> StoreResult<bool> {
        let t = self.trees()?;
        let _stripe = t.stripe(domain_id)?;
        let swapped = t
            .data
            .compare_and_swap(
                mapping_key(domain_id, pseudonym),
                Some(encode_mapping(current)),
                Some(encode_mapping(next)),
            )
            .map_err(backend)?;
        if swapped.is_ok() {
            t.commit.wrote();
        }
        Ok(swapped.is_ok())
    }
}

#[async_trait]
impl MappingStore for SledStore {
    async fn insert_mappings(
        &self,
        _tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        let counter = t.commit.counter();
        let (outcomes, stored) = blocking(rows.len(), move || -> StoreResult<_> {
            let _guard = trees.stripe(domain_id)?;
            let mut writes = Vec::new();
            let mut outcomes = Vec::with_capacity(rows.len());
            // Identifiers repeated inside this very batch get the first row's pseudonym.
            let mut in_batch: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            // Keyed rows (no blind index) now known to be stored, for `KnownMappings`.
            let mut stored = Vec::new();
            for row in rows {
                if row.blind.is_none() {
                    stored.push(row.pseudonym.clone());
                }
                let probe = match &row.blind {
                    Some(blind) => blind_key(domain_id, blind),
                    None => mapping_key(domain_id, &row.pseudonym),
                };
                if let Some(p) = in_batch.get(&probe) {
                    outcomes.push(InsertOutcome::Existing(p.clone()));
                    continue;
                }
                if let Some(existing) = trees.data.get(&probe).map_err(backend)? {
                    let pseudonym = if row.blind.is_some() {
                        existing.to_vec()
                    } else {
                        row.pseudonym.clone()
                    };
                    outcomes.push(InsertOutcome::Existing(pseudonym));
                    continue;
                }
                let key = mapping_key(domain_id, &row.pseudonym);
                if row.blind.is_some() && trees.data.get(&key).map_err(backend)?.is_some() {
                    return Err(StoreError::Corrupt("a new blind-index row names a pseudonym another mapping holds (the serial counter is behind the mappings)"));
                }
                writes.push((key, encode_mapping(&row.record)));
                if row.blind.is_some() {
                    writes.push((probe.clone(), row.pseudonym.clone()));
                }
                in_batch.insert(probe, row.pseudonym.clone());
                outcomes.push(InsertOutcome::Inserted);
            }
            if !writes.is_empty() {
                write_atomically(&trees.data, writes)?;
                // Inside the stripe: a concurrent insert that now finds these rows `Existing`
                // syncs past them.
                counter.wrote();
            }
            Ok((outcomes, stored))
        })
        .await?;
        // After the write was counted: whoever trusts the table and then syncs also covers it.
        t.known
            .remember(domain_id, stored.iter().map(Vec::as_slice));
        Ok(outcomes)
    }

    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        blocking(pseudonyms.len(), move || {
            pseudonyms
                .iter()
                .map(
                    |p| match trees.data.get(mapping_key(domain_id, p)).map_err(backend)? {
                        Some(v) => decode_mapping(&v)
                            .map(Some)
                            .ok_or(StoreError::Corrupt("mapping")),
                        None => Ok(None),
                    },
                )
                .collect()
        })
        .await
    }

    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        let t = self.trees()?;
        let known = t.known.lookup(domain_id, &pseudonyms);
        let misses = known.iter().filter(|k| !**k).count();
        if misses == 0 {
            return Ok(known);
        }
        let trees = Arc::clone(&t);
        let (pseudonyms, answer) = blocking(misses, move || {
            let mut found_new = false;
            let answer = pseudonyms
                .iter()
                .zip(known)
                .map(|(p, known)| {
                    if known {
                        return Ok(true);
                    }
                    let found = trees
                        .data
                        .contains_key(mapping_key(domain_id, p))
                        .map_err(backend)?;
                    found_new |= found;
                    Ok(found)
                })
                .collect::<StoreResult<Vec<bool>>>()?;
            if found_new {
                settle(&trees, domain_id)?;
            }
            Ok((pseudonyms, answer))
        })
        .await?;
        t.known.remember(
            domain_id,
            pseudonyms
                .iter()
                .zip(&answer)
                .filter(|(_, found)| **found)
                .map(|(p, _)| p.as_slice()),
        );
        Ok(answer)
    }

    async fn scan_mappings(
        &self,
        domain_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        blocking(limit, move || {
            let prefix = mapping_key(domain_id, &[]);
            let start = mapping_key(domain_id, &after);
            // `m|domain+1`: the first key after this domain's mappings.
            let mut end = vec![b'm'];
            end.extend_from_slice(&domain_id.saturating_add(1).to_be_bytes());
            trees
                .data
                .range(start.clone()..end)
                .filter(|kv| kv.as_ref().map_or(true, |(k, _)| k.as_ref() != start))
                .take(limit)
                .map(|kv| {
                    let (k, v) = kv.map_err(backend)?;
                    let record = decode_mapping(&v).ok_or(StoreError::Corrupt("mapping"))?;
                    Ok((k[prefix.len()..].to_vec(), record))
                })
                .collect()
        })
        .await
    }

    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        self.swap_mapping(
            domain_id,
            pseudonym,
            current,
            &MappingRecord {
                ciphertext: Some(ciphertext),
                ..current.clone()
            },
        )
    }

    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
        ciphertext: Option<Vec<u8>>,
    ) -> StoreResult<bool> {
        self.swap_mapping(
            domain_id,
            pseudonym,
            current,
            &MappingRecord {
                expires_ms,
                ciphertext,
                ..current.clone()
            },
        )
    }

    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>> {
        let t = self.trees()?;
        let prefix = blind_key(domain_id, &[]);
        t.data
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                let blind: [u8; 16] = k[prefix.len()..]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("blind-index key"))?;
                Ok((blind, v.to_vec()))
            })
            .collect()
    }

    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .trees()?
            .data
            .get(blind_key(domain_id, &blind))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()> {
        let t = self.trees()?;
        // The known-mappings table must not claim it once the deletion is visible.
        t.known.forget(domain_id, pseudonym);
        let mut batch = sled::Batch::default();
        batch.remove(mapping_key(domain_id, pseudonym));
        if let Some(blind) = blind {
            batch.remove(blind_key(domain_id, &blind));
        }
        let _stripe = t.stripe(domain_id)?;
        t.data.apply_batch(batch).map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;

    /// A reader that finds a row another writer made visible waits until that write is counted
    /// toward the next flush, so its own `sync` covers the row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_seen_before_its_write_is_counted_waits_for_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let counted = Arc::new(AtomicBool::new(false));
        let (written_tx, written_rx) = std::sync::mpsc::channel();
        let writer = {
            let (store, counted) = (Arc::clone(&store), Arc::clone(&counted));
            std::thread::spawn(move || {
                // What insert_mappings does, slowed down between the write and its count.
                let trees = store.trees().unwrap();
                let _stripe = trees.stripe(7).unwrap();
                let record = crate::store::conformance::fixture::mapping(1, None);
                trees
                    .data
                    .insert(mapping_key(7, &[1; 16]), encode_mapping(&record))
                    .unwrap();
                written_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(200));
                counted.store(true, Ordering::SeqCst);
                trees.commit.counter().wrote();
            })
        };
        written_rx.recv().unwrap();
        let found = store.contains_mappings(7, vec![vec![1; 16]]).await.unwrap();
        assert_eq!(found, vec![true]);
        assert!(
            counted.load(Ordering::SeqCst),
            "the reader answered before the write it saw was counted"
        );
        writer.join().unwrap();
    }
}
