//! sled: the consent family (the `consent` and `evidence` trees; texts as `meta` rows).

use std::sync::Arc;

use async_trait::async_trait;

use super::{SledStore, backend, blocking, join};
use crate::{
    model::{ConsentEvent, SubjectHandle},
    store::{ConsentStore, StoreError, StoreResult, records::ConsentTextRecord},
};

pub(super) fn evidence_key(tenant_id: u64, id: &[u8]) -> Vec<u8> {
    let mut key = tenant_id.to_be_bytes().to_vec();
    key.extend_from_slice(id);
    key
}

fn consent_prefix(tenant_id: u64, subject: &SubjectHandle, purpose: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + 16 + purpose.len() + 1);
    k.extend_from_slice(&tenant_id.to_be_bytes());
    k.extend_from_slice(subject);
    k.extend_from_slice(purpose.as_bytes());
    k.push(0);
    k
}

/// The prefix of every consent key of a subject (all purposes).
pub(super) fn subject_prefix(tenant_id: u64, subject: &SubjectHandle) -> Vec<u8> {
    let mut prefix = tenant_id.to_be_bytes().to_vec();
    prefix.extend_from_slice(subject);
    prefix
}

fn decode(v: &[u8]) -> StoreResult<ConsentEvent> {
    serde_json::from_slice(v).map_err(|_| StoreError::Corrupt("consent"))
}

#[async_trait]
impl ConsentStore for SledStore {
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent> {
        let t = self.trees()?;
        let prefix = consent_prefix(tenant_id, &subject, purpose);
        let _guard = t.stripe(tenant_id)?;
        let last = t
            .consent
            .scan_prefix(&prefix)
            .next_back()
            .transpose()
            .map_err(backend)?;
        let next = match last {
            Some((_, v)) => decode(&v)?.seq + 1,
            None => 1,
        };
        if event.seq != next {
            return Err(StoreError::AlreadyExists("consent event"));
        }
        let mut key = prefix;
        key.extend_from_slice(&event.seq.to_be_bytes());
        let bytes = serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("consent"))?;
        t.consent.insert(key, bytes).map_err(backend)?;
        t.commit.wrote();
        Ok(event)
    }

    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>> {
        let t = self.trees()?;
        t.consent
            .scan_prefix(consent_prefix(tenant_id, &subject, purpose))
            .map(|kv| decode(&kv.map_err(backend)?.1))
            .collect()
    }

    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for kv in trees.consent.scan_prefix(tenant_id.to_be_bytes()) {
                let (k, v) = kv.map_err(backend)?;
                // tenant (8) | subject (16) | purpose | 0 | seq (8)
                if k.len() < 8 + 16 + 1 + 8 {
                    return Err(StoreError::Corrupt("consent key"));
                }
                let mut subject = [0u8; 16];
                subject.copy_from_slice(&k[8..24]);
                let purpose = String::from_utf8_lossy(&k[24..k.len() - 9]).into_owned();
                out.push((subject, purpose, decode(&v)?));
            }
            Ok(out)
        })
        .await
        .map_err(join)?
    }

    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>> {
        let t = self.trees()?;
        let trees = Arc::clone(&t);
        let purpose = purpose.to_owned();
        blocking(subjects.len(), move || {
            subjects
                .iter()
                .map(|s| {
                    let last = trees
                        .consent
                        .scan_prefix(consent_prefix(tenant_id, s, &purpose))
                        .next_back()
                        .transpose()
                        .map_err(backend)?;
                    last.map(|(_, v)| decode(&v)).transpose()
                })
                .collect()
        })
        .await
    }

    async fn seal_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: &ConsentEvent,
    ) -> StoreResult<bool> {
        let t = self.trees()?;
        let mut key = consent_prefix(tenant_id, &subject, purpose);
        key.extend_from_slice(&event.seq.to_be_bytes());
        let _guard = t.stripe(tenant_id)?;
        let Some(stored) = t.consent.get(&key).map_err(backend)? else {
            return Ok(false);
        };
        if !crate::store::consents::only_seals(&decode(&stored)?, event) {
            return Ok(false);
        }
        let bytes = serde_json::to_vec(event).map_err(|_| StoreError::Corrupt("consent"))?;
        t.consent.insert(key, bytes).map_err(backend)?;
        t.commit.wrote();
        Ok(true)
    }

    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64> {
        let t = self.trees()?;
        let mut batch = sled::Batch::default();
        let mut n = 0;
        let _guard = t.stripe(tenant_id)?;
        for kv in t.consent.scan_prefix(subject_prefix(tenant_id, &subject)) {
            let (k, _) = kv.map_err(backend)?;
            batch.remove(k);
            n += 1;
        }
        t.consent.apply_batch(batch).map_err(backend)?;
        t.commit.wrote();
        Ok(n)
    }

    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()> {
        let key = format!("ctext/{tenant_id}/{}/{:010}", text.purpose, text.version);
        let bytes = serde_json::to_vec(text).map_err(|_| StoreError::Corrupt("consent text"))?;
        if !self.insert_new(&key, bytes)? {
            return Err(StoreError::AlreadyExists("consent text version"));
        }
        Ok(())
    }

    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>> {
        self.scan_json(&format!("ctext/{tenant_id}/{purpose}/"))
    }

    async fn put_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<()> {
        let t = self.trees()?;
        t.evidence
            .insert(evidence_key(tenant_id, id), ciphertext)
            .map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .trees()?
            .evidence
            .get(evidence_key(tenant_id, id))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    async fn scan_evidence(
        &self,
        tenant_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.trees()?;
        let prefix = tenant_id.to_be_bytes();
        let start = evidence_key(tenant_id, &after);
        let mut out = Vec::new();
        for kv in t.evidence.range(start..) {
            let (k, v) = kv.map_err(backend)?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let id = k[8..].to_vec();
            if id == after && !after.is_empty() {
                continue;
            }
            out.push((id, v.to_vec()));
        }
        Ok(out)
    }

    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        let t = self.trees()?;
        let swapped = t
            .evidence
            .compare_and_swap(evidence_key(tenant_id, id), Some(current), Some(ciphertext))
            .map_err(backend)?;
        if swapped.is_ok() {
            t.commit.wrote();
        }
        Ok(swapped.is_ok())
    }

    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool> {
        let t = self.trees()?;
        let old = t
            .evidence
            .remove(evidence_key(tenant_id, id))
            .map_err(backend)?;
        t.commit.wrote();
        Ok(old.is_some())
    }
}
