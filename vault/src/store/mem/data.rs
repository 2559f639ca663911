//! In memory: the mapping, consent, subject and audit families.

use std::collections::HashMap;

use async_trait::async_trait;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::{MemStore, State};
use crate::{
    model::{ConsentEvent, SubjectHandle},
    store::{
        AuditStore, ConsentStore, Erasure, MappingStore, StoreError, StoreResult, SubjectStore,
        records::{
            AuditRecord, ConsentTextRecord, InsertOutcome, MappingRecord, NewMapping,
            RestrictionRecord, SubjectEventRecord, TombstoneRecord,
        },
    },
};

fn after<K: Ord>(key: &K, from: &K, first: bool) -> bool {
    if first { key >= from } else { key > from }
}

fn append_events(s: &mut State, tenant_id: u64, events: Vec<SubjectEventRecord>) {
    let next = s
        .subject_events
        .range((tenant_id, 0)..=(tenant_id, u64::MAX))
        .next_back()
        .map_or(1, |((_, seq), _)| seq + 1);
    for (seq, mut event) in (next..).zip(events) {
        event.seq = seq;
        s.subject_events.insert((tenant_id, seq), event);
    }
}

fn consent_keys(
    s: &State,
    tenant_id: u64,
    subject: SubjectHandle,
) -> Vec<(u64, SubjectHandle, String, u64)> {
    s.consents
        .range((tenant_id, subject, String::new(), 0)..)
        .take_while(|((t, sub, _, _), _)| *t == tenant_id && *sub == subject)
        .map(|(k, _)| k.clone())
        .collect()
}

#[async_trait]
impl MappingStore for MemStore {
    async fn insert_mappings(
        &self,
        _tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>> {
        self.faults.held("insert_mappings").await;
        let mut s = self.state("insert_mappings")?;
        for row in &rows {
            if let Some(b) = row.blind
                && !s.blind.contains_key(&(domain_id, b))
                && s.mappings.contains_key(&(domain_id, row.pseudonym.clone()))
            {
                return Err(StoreError::Corrupt(
                    "a new blind-index row names a pseudonym another mapping holds (the serial counter is behind the mappings)",
                ));
            }
        }
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut in_batch: HashMap<(Option<[u8; 16]>, Vec<u8>), Vec<u8>> = HashMap::new();
        for row in rows {
            let probe = match row.blind {
                Some(b) => (Some(b), Vec::new()),
                None => (None, row.pseudonym.clone()),
            };
            if let Some(p) = in_batch.get(&probe) {
                outcomes.push(InsertOutcome::Existing(p.clone()));
                continue;
            }
            let existing = match row.blind {
                Some(b) => s.blind.get(&(domain_id, b)).cloned(),
                None => s
                    .mappings
                    .contains_key(&(domain_id, row.pseudonym.clone()))
                    .then(|| row.pseudonym.clone()),
            };
            if let Some(p) = existing {
                outcomes.push(InsertOutcome::Existing(p));
                continue;
            }
            s.mappings
                .insert((domain_id, row.pseudonym.clone()), row.record);
            if let Some(b) = row.blind {
                s.blind.insert((domain_id, b), row.pseudonym.clone());
            }
            in_batch.insert(probe, row.pseudonym);
            outcomes.push(InsertOutcome::Inserted);
        }
        Ok(outcomes)
    }

    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>> {
        let s = self.state("mappings")?;
        Ok(pseudonyms
            .into_iter()
            .map(|p| s.mappings.get(&(domain_id, p)).cloned())
            .collect())
    }

    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        let s = self.state("contains_mappings")?;
        Ok(pseudonyms
            .into_iter()
            .map(|p| s.mappings.contains_key(&(domain_id, p)))
            .collect())
    }

    async fn scan_mappings(
        &self,
        domain_id: u64,
        from: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>> {
        let s = self.state("scan_mappings")?;
        let first = from.is_empty();
        let start = (domain_id, from);
        Ok(s.mappings
            .range(start.clone()..)
            .take_while(|((d, _), _)| *d == domain_id)
            .filter(|(k, _)| after(*k, &start, first))
            .take(limit)
            .map(|((_, p), r)| (p.clone(), r.clone()))
            .collect())
    }

    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        let mut s = self.state("replace_ciphertext")?;
        if self.faults.conflicting("replace_ciphertext")
            && let Some(stored) = s.mappings.get_mut(&(domain_id, pseudonym.to_vec()))
        {
            // The row changed between the caller's read and this swap. In production that is
            // another node moving the expiry, which re-seals the ciphertext for it; without keys
            // here, the change is to the creation time, the one field nothing is bound to.
            stored.created_ms = stored.created_ms.saturating_add(1);
            return Ok(false);
        }
        match s.mappings.get_mut(&(domain_id, pseudonym.to_vec())) {
            Some(stored) if stored == current => {
                stored.ciphertext = Some(ciphertext);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
        ciphertext: Option<Vec<u8>>,
    ) -> StoreResult<bool> {
        let mut s = self.state("set_expiry")?;
        match s.mappings.get_mut(&(domain_id, pseudonym.to_vec())) {
            Some(stored) if stored == current => {
                stored.expires_ms = expires_ms;
                stored.ciphertext = ciphertext;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>> {
        let s = self.state("blind_entries")?;
        Ok(s.blind
            .range((domain_id, [0; 16])..=(domain_id, [0xff; 16]))
            .map(|((_, b), p)| (*b, p.clone()))
            .collect())
    }

    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .state("blind_lookup")?
            .blind
            .get(&(domain_id, blind))
            .cloned())
    }

    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()> {
        let mut s = self.state("delete_mapping")?;
        s.mappings.remove(&(domain_id, pseudonym.to_vec()));
        if let Some(b) = blind {
            s.blind.remove(&(domain_id, b));
        }
        Ok(())
    }
}

#[async_trait]
impl ConsentStore for MemStore {
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent> {
        let mut s = self.state("append_consent")?;
        let p = purpose.to_owned();
        let next = s
            .consents
            .range((tenant_id, subject, p.clone(), 0)..=(tenant_id, subject, p.clone(), u64::MAX))
            .next_back()
            .map_or(1, |(_, e)| e.seq + 1);
        if event.seq != next {
            return Err(StoreError::AlreadyExists("consent event"));
        }
        s.consents
            .insert((tenant_id, subject, p, event.seq), event.clone());
        Ok(event)
    }

    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>> {
        let s = self.state("consent_history")?;
        let p = purpose.to_owned();
        Ok(s.consents
            .range((tenant_id, subject, p.clone(), 0)..=(tenant_id, subject, p, u64::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        let s = self.state("scan_consents")?;
        Ok(s.consents
            .range((tenant_id, [0; 16], String::new(), 0)..)
            .take_while(|((t, _, _, _), _)| *t == tenant_id)
            .map(|((_, sub, p, _), e)| (*sub, p.clone(), e.clone()))
            .collect())
    }

    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>> {
        let s = self.state("latest_consents")?;
        let p = purpose.to_owned();
        Ok(subjects
            .into_iter()
            .map(|sub| {
                s.consents
                    .range((tenant_id, sub, p.clone(), 0)..=(tenant_id, sub, p.clone(), u64::MAX))
                    .next_back()
                    .map(|(_, e)| e.clone())
            })
            .collect())
    }

    async fn seal_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: &ConsentEvent,
    ) -> StoreResult<bool> {
        let mut s = self.state("seal_consent")?;
        let key = (tenant_id, subject, purpose.to_owned(), event.seq);
        match s.consents.get_mut(&key) {
            Some(stored) if crate::store::consents::only_seals(stored, event) => {
                stored.mac.clone_from(&event.mac);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64> {
        let mut s = self.state("delete_consents")?;
        let keys = consent_keys(&s, tenant_id, subject);
        for k in &keys {
            s.consents.remove(k);
        }
        Ok(keys.len() as u64)
    }

    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()> {
        let mut s = self.state("put_consent_text")?;
        let key = (tenant_id, text.purpose.clone(), text.version);
        if s.texts.contains_key(&key) {
            return Err(crate::store::StoreError::AlreadyExists(
                "consent text version",
            ));
        }
        s.texts.insert(key, text.clone());
        Ok(())
    }

    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>> {
        let s = self.state("consent_texts")?;
        let p = purpose.to_owned();
        Ok(s.texts
            .range((tenant_id, p.clone(), 0)..=(tenant_id, p, u32::MAX))
            .map(|(_, t)| t.clone())
            .collect())
    }

    async fn put_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<()> {
        self.state("put_evidence")?
            .evidence
            .insert((tenant_id, id.to_vec()), ciphertext);
        Ok(())
    }

    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .state("evidence")?
            .evidence
            .get(&(tenant_id, id.to_vec()))
            .cloned())
    }

    async fn scan_evidence(
        &self,
        tenant_id: u64,
        from: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let s = self.state("scan_evidence")?;
        let first = from.is_empty();
        let start = (tenant_id, from);
        Ok(s.evidence
            .range(start.clone()..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .filter(|(k, _)| after(*k, &start, first))
            .take(limit)
            .map(|((_, id), ct)| (id.clone(), ct.clone()))
            .collect())
    }

    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        let mut s = self.state("replace_evidence")?;
        match s.evidence.get_mut(&(tenant_id, id.to_vec())) {
            Some(stored) if stored.as_slice() == current => {
                *stored = ciphertext;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool> {
        Ok(self
            .state("delete_evidence")?
            .evidence
            .remove(&(tenant_id, id.to_vec()))
            .is_some())
    }
}

#[async_trait]
impl SubjectStore for MemStore {
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()> {
        let mut s = self.state("put_restriction")?;
        s.restrictions
            .insert((tenant_id, r.subject.clone()), r.clone());
        s.bump(tenant_id);
        Ok(())
    }

    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool> {
        let mut s = self.state("delete_restriction")?;
        let had = s
            .restrictions
            .remove(&(tenant_id, subject_hex.to_owned()))
            .is_some();
        s.bump(tenant_id);
        Ok(had)
    }

    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>> {
        let s = self.state("restrictions")?;
        Ok(s.restrictions
            .range((tenant_id, String::new())..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()> {
        self.state("put_tombstone")?
            .tombstones
            .insert((tenant_id, t.subject.clone()), t.clone());
        Ok(())
    }

    async fn tombstones(&self, tenant_id: u64) -> StoreResult<Vec<TombstoneRecord>> {
        Ok(self
            .state("tombstones")?
            .tombstones
            .iter()
            .filter(|((t, _), _)| *t == tenant_id)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn marks(&self, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .state("marks")?
            .marks
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>> {
        Ok(self
            .state("tombstone")?
            .tombstones
            .get(&(tenant_id, subject_hex.to_owned()))
            .cloned())
    }

    async fn erase_subject(
        &self,
        tenant_id: u64,
        erasure: Erasure,
    ) -> StoreResult<TombstoneRecord> {
        let mut s = self.state("erase_subject")?;
        let mut tombstone = erasure.tombstone;
        tombstone.mappings = 0;
        tombstone.evidence = 0;
        for (domain_id, pseudonym, blind) in erasure.mappings {
            if s.mappings.remove(&(domain_id, pseudonym)).is_some() {
                tombstone.mappings += 1;
            }
            if let Some(b) = blind {
                s.blind.remove(&(domain_id, b));
            }
        }
        for id in erasure.evidence {
            if s.evidence.remove(&(tenant_id, id)).is_some() {
                tombstone.evidence += 1;
            }
        }
        let keys = consent_keys(&s, tenant_id, erasure.subject);
        for k in &keys {
            s.consents.remove(k);
        }
        tombstone.consent_events = keys.len() as u64;
        s.restrictions
            .remove(&(tenant_id, tombstone.subject.clone()));
        s.tombstones
            .insert((tenant_id, tombstone.subject.clone()), tombstone.clone());
        append_events(&mut s, tenant_id, erasure.events);
        s.bump(tenant_id);
        Ok(tombstone)
    }

    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()> {
        let mut s = self.state("append_subject_events")?;
        append_events(&mut s, tenant_id, events);
        Ok(())
    }

    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>> {
        let s = self.state("subject_events")?;
        Ok(s.subject_events
            .range((tenant_id, after.saturating_add(1))..=(tenant_id, u64::MAX))
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn mark_once(&self, key: &str) -> StoreResult<bool> {
        Ok(self.state("mark_once")?.marks.insert(key.to_owned()))
    }
}

#[async_trait]
impl AuditStore for MemStore {
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let mut s = self.state("append_audit")?;
        let (mut seq, mut prev) = match s.audit.range((chain, 0)..=(chain, u64::MAX)).next_back() {
            Some((_, last)) => (last.seq + 1, last.hash.clone()),
            None => (1, valv_proto::audit::GENESIS.to_vec()),
        };
        for record in entries {
            let entry = record.chained(chain, seq, prev);
            prev = entry.hash.clone();
            s.audit.insert((chain, seq), entry);
            seq += 1;
        }
        Ok(())
    }

    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.faults.check("append_audit_lazy")?;
        self.append_audit(chain, entries).await
    }

    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let s = self.state("read_audit")?;
        Ok(s.audit
            .range((chain, from_seq)..=(chain, u64::MAX))
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn subject_audit(
        &self,
        chain: u64,
        subject: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        // The reference back-end reads the chain; the others keep an index.
        let s = self.state("subject_audit")?;
        Ok(s.audit
            .range((chain, after.saturating_add(1))..=(chain, u64::MAX))
            .map(|(_, e)| e)
            .filter(|e| crate::store::audit::subjects_named(e).contains(&subject))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let s = self.state("audit_head")?;
        Ok(s.audit
            .range((chain, 0)..=(chain, u64::MAX))
            .next_back()
            .map(|(_, e)| (e.seq, e.hash.clone())))
    }

    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()> {
        self.state("put_audit_checkpoint")?
            .checkpoints
            .insert((checkpoint.chain, checkpoint.seq), checkpoint.clone());
        Ok(())
    }

    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        let s = self.state("audit_checkpoints")?;
        Ok(s.checkpoints
            .range((chain, 0)..=(chain, u64::MAX))
            .map(|(_, c)| c.clone())
            .collect())
    }
}
