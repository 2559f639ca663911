//! sled: the subject family (restrictions, tombstones and markers as `meta` rows, the
//! `subject_events` tree), and erasure as one sled transaction over five trees.

use async_trait::async_trait;
use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError},
};

use super::{
    SledStore, Trees, backend,
    consents::{evidence_key, subject_prefix},
    mappings::{blind_key, mapping_key},
    to_json,
};
use crate::store::{
    Erasure, StoreError, StoreResult, SubjectStore,
    records::{RestrictionRecord, SubjectEventRecord, TombstoneRecord},
};

fn restriction_key(tenant_id: u64, subject_hex: &str) -> String {
    format!("restrict/{tenant_id}/{subject_hex}")
}

fn tombstone_key(tenant_id: u64, subject_hex: &str) -> String {
    format!("tomb/{tenant_id}/{subject_hex}")
}

fn event_key(tenant_id: u64, seq: u64) -> Vec<u8> {
    let mut key = tenant_id.to_be_bytes().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The next subject-event sequence number of a tenant (call with the tenant's stripe held).
fn next_event_seq(trees: &Trees, tenant_id: u64) -> StoreResult<u64> {
    let last = trees
        .subject_events
        .scan_prefix(tenant_id.to_be_bytes())
        .next_back()
        .transpose()
        .map_err(backend)?;
    Ok(match last {
        Some((k, _)) if k.len() == 16 => super::be_u64(&k[8..]).map_or(1, |s| s + 1),
        _ => 1,
    })
}

/// Numbered event rows from `next` on.
fn numbered(
    tenant_id: u64,
    next: u64,
    events: Vec<SubjectEventRecord>,
) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    (next..)
        .zip(events)
        .map(|(seq, mut event)| {
            event.seq = seq;
            let bytes =
                serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("subject event"))?;
            Ok((event_key(tenant_id, seq), bytes))
        })
        .collect()
}

#[async_trait]
impl SubjectStore for SledStore {
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()> {
        self.put_json(&restriction_key(tenant_id, &r.subject), r)?;
        self.bump(tenant_id)
    }

    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool> {
        let t = self.trees()?;
        let old = t
            .meta
            .remove(restriction_key(tenant_id, subject_hex))
            .map_err(backend)?;
        t.commit.wrote();
        self.bump(tenant_id)?;
        Ok(old.is_some())
    }

    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>> {
        self.scan_json(&format!("restrict/{tenant_id}/"))
    }

    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()> {
        self.put_json(&tombstone_key(tenant_id, &t.subject), t)
    }

    async fn tombstones(&self, tenant_id: u64) -> StoreResult<Vec<TombstoneRecord>> {
        self.scan_json(&format!("tomb/{tenant_id}/"))
    }

    async fn marks(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let t = self.trees()?;
        t.meta
            .scan_prefix(format!("mark/{prefix}"))
            .map(|kv| {
                let (k, _) = kv.map_err(backend)?;
                let key = std::str::from_utf8(&k).map_err(|_| StoreError::Corrupt("marker"))?;
                Ok(key.trim_start_matches("mark/").to_owned())
            })
            .collect()
    }

    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>> {
        self.get_json(&tombstone_key(tenant_id, subject_hex))
    }

    async fn erase_subject(
        &self,
        tenant_id: u64,
        erasure: Erasure,
    ) -> StoreResult<TombstoneRecord> {
        let t = self.trees()?;
        // The known-mappings table must not claim a mapping once its deletion is visible.
        for (domain_id, pseudonym, _) in &erasure.mappings {
            t.known.forget(*domain_id, pseudonym);
        }
        // The tenant's stripe keeps consent appends and subject-event numbering out while the
        // keys to delete and the next sequence number are read and the transaction runs.
        let _guard = t.stripe(tenant_id)?;
        let consent_keys: Vec<sled::IVec> = t
            .consent
            .scan_prefix(subject_prefix(tenant_id, &erasure.subject))
            .keys()
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let events = numbered(
            tenant_id,
            next_event_seq(&t, tenant_id)?,
            erasure.events.clone(),
        )?;
        let subject_hex = erasure.tombstone.subject.clone();
        // The change counter rises before the mappings go as well as after: a pseudonymise that
        // re-inserts one of them after the deletion reads the raised counter and takes back
        // what it inserted (`ops::pseudonymise`); the raise after invalidates caches loaded
        // meanwhile.
        self.bump(tenant_id)?;
        let result = (&t.data, &t.consent, &t.evidence, &t.meta, &t.subject_events).transaction(
            |(data, consent, evidence, meta, subject_events)| {
                let mut tombstone = erasure.tombstone.clone();
                tombstone.mappings = 0;
                tombstone.evidence = 0;
                tombstone.consent_events = consent_keys.len() as u64;
                for (domain_id, pseudonym, blind) in &erasure.mappings {
                    if data.remove(mapping_key(*domain_id, pseudonym))?.is_some() {
                        tombstone.mappings += 1;
                    }
                    if let Some(blind) = blind {
                        data.remove(blind_key(*domain_id, blind))?;
                    }
                }
                for id in &erasure.evidence {
                    if evidence.remove(evidence_key(tenant_id, id))?.is_some() {
                        tombstone.evidence += 1;
                    }
                }
                for key in &consent_keys {
                    consent.remove(key)?;
                }
                meta.remove(restriction_key(tenant_id, &subject_hex).as_bytes())?;
                let bytes = to_json(&tombstone).map_err(ConflictableTransactionError::Abort)?;
                meta.insert(tombstone_key(tenant_id, &subject_hex).as_bytes(), bytes)?;
                for (key, value) in &events {
                    subject_events.insert(key.as_slice(), value.as_slice())?;
                }
                Ok(tombstone)
            },
        );
        let tombstone = match result {
            Ok(t) => t,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(backend(e)),
        };
        t.commit.wrote();
        drop(_guard);
        self.bump(tenant_id)?;
        Ok(tombstone)
    }

    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()> {
        let t = self.trees()?;
        // One writer per tenant at a time (sequence assignment).
        let _guard = t.stripe(tenant_id)?;
        let next = next_event_seq(&t, tenant_id)?;
        let mut batch = sled::Batch::default();
        for (key, value) in numbered(tenant_id, next, events)? {
            batch.insert(key, value);
        }
        t.subject_events.apply_batch(batch).map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>> {
        let t = self.trees()?;
        t.subject_events
            .range(event_key(tenant_id, after.saturating_add(1))..=event_key(tenant_id, u64::MAX))
            .take(limit)
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("subject event"))
            })
            .collect()
    }

    async fn mark_once(&self, key: &str) -> StoreResult<bool> {
        self.insert_new(&format!("mark/{key}"), b"1".to_vec())
    }
}
