//! The embedded default back-end: sled, in one data directory.
//!
//! Layout (all keys big-endian so ranges sort):
//! - `meta`: JSON registry rows (`tenant/…`, `keys/…`, `domain/…`, `purpose/…`, `principal/…`).
//! - `data`: `m|domain|pseudonym` → mapping (binary, see `codec`, holding the subject handle),
//!   `b|domain|blind` → pseudonym. One tree, so a batch is atomic. There is no separate
//!   subject-index row: see `Store::insert_mappings`.
//! - `consent`: `tenant|subject|purpose|0|seq` → JSON event.
//! - `subject_events`: `tenant|seq` → JSON subject event (what downstream systems are told).
//! - `evidence`: `tenant|receipt id` → AES-256-GCM consent evidence (consent texts are
//!   `meta` rows `ctext/…`).
//! - `audit`: `chain|seq` → protobuf `AuditEntry` (hash-chained);
//!   `audit_checkpoints`: `chain|seq` → protobuf `AuditCheckpoint`.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use prost::Message;
use serde::{Serialize, de::DeserializeOwned};
use valv_kms::WrappedTenantKeys;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::{
    Store, StoreError, StoreResult,
    codec::{decode_mapping, encode_mapping},
    commit::GroupCommit,
    known::KnownMappings,
    records::*,
};
use crate::engine::{consent::ConsentEvent, subject::SubjectHandle};

const LOCK_STRIPES: usize = 64;

struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    data: sled::Tree,
    consent: sled::Tree,
    evidence: sled::Tree,
    subject_events: sled::Tree,
    audit: sled::Tree,
    audit_checkpoints: sled::Tree,
    /// Serialises check-then-insert per domain (and consent/audit sequence assignment).
    stripes: Vec<Mutex<()>>,
    /// Per chain: the next sequence number and the hash of the last entry.
    audit_next: Mutex<HashMap<u64, (u64, Vec<u8>)>>,
}

/// The sled store.
pub struct SledStore {
    dir: std::path::PathBuf,
    trees: Arc<Trees>,
    commit: GroupCommit,
    known: KnownMappings,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn join(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("blocking task: {e}"))
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(256 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(backend)?;
        let trees = Arc::new(Trees {
            meta: db.open_tree("meta").map_err(backend)?,
            data: db.open_tree("data").map_err(backend)?,
            consent: db.open_tree("consent").map_err(backend)?,
            evidence: db.open_tree("evidence").map_err(backend)?,
            subject_events: db.open_tree("subject_events").map_err(backend)?,
            audit: db.open_tree("audit").map_err(backend)?,
            audit_checkpoints: db.open_tree("audit_checkpoints").map_err(backend)?,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            audit_next: Mutex::new(HashMap::new()),
            db,
        });
        let flush_db = trees.db.clone();
        // sled's flush on Linux ends in `sync_file_range`, which persists the written pages but
        // not the file's metadata (size, extent allocation), and sled itself `fsync`s only once
        // a second. `fdatasync` on our own handle of the same log file closes that window, so a
        // flushed write also survives a power cut, not only a killed process.
        let log = std::fs::File::open(dir.join("db")).map_err(backend)?;
        let commit = GroupCommit::start(move || {
            flush_db.flush().map_err(|e| e.to_string())?;
            log.sync_data().map_err(|e| e.to_string())
        });
        Ok(Self {
            dir: dir.to_path_buf(),
            trees,
            commit,
            known: KnownMappings::new(),
        })
    }

    /// Replaces a mapping row if it is still exactly `current` (false: changed or gone).
    fn swap_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        next: &MappingRecord,
    ) -> StoreResult<bool> {
        let swapped = self
            .trees
            .data
            .compare_and_swap(
                mapping_key(domain_id, pseudonym),
                Some(encode_mapping(current)),
                Some(encode_mapping(next)),
            )
            .map_err(backend)?;
        if swapped.is_ok() {
            self.commit.wrote();
        }
        Ok(swapped.is_ok())
    }

    fn get_json<T: DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        match self.trees.meta.get(key).map_err(backend)? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|_| StoreError::Corrupt("registry row")),
            None => Ok(None),
        }
    }

    fn put_json<T: Serialize>(&self, key: &str, value: &T) -> StoreResult<()> {
        let bytes = serde_json::to_vec(value).map_err(|_| StoreError::Corrupt("registry row"))?;
        self.trees.meta.insert(key, bytes).map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    fn scan_json<T: DeserializeOwned>(&self, prefix: &str) -> StoreResult<Vec<T>> {
        self.trees
            .meta
            .scan_prefix(prefix)
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("registry row"))
            })
            .collect()
    }

    /// The last stored entry of an audit chain.
    fn last_audit_entry(&self, chain: u64) -> StoreResult<Option<AuditEntry>> {
        let last = self
            .trees
            .audit
            .scan_prefix(chain.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(backend)?;
        last.map(|(_, v)| {
            AuditEntry::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("audit entry"))
        })
        .transpose()
    }

    /// Inserts `key` only if absent, atomically. False if it existed.
    fn insert_new(&self, key: &str, value: Vec<u8>) -> StoreResult<bool> {
        let swapped = self
            .trees
            .meta
            .compare_and_swap(key, None::<&[u8]>, Some(value))
            .map_err(backend)?;
        Ok(swapped.is_ok())
    }
}

fn audit_key(chain: u64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&chain.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn mapping_key(domain_id: u64, pseudonym: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + pseudonym.len());
    k.push(b'm');
    k.extend_from_slice(&domain_id.to_be_bytes());
    k.extend_from_slice(pseudonym);
    k
}

fn blind_key(domain_id: u64, blind: &[u8]) -> Vec<u8> {
    let mut k = vec![b'b'];
    k.extend_from_slice(&domain_id.to_be_bytes());
    k.extend_from_slice(blind);
    k
}

fn evidence_key(tenant_id: u64, id: &[u8]) -> Vec<u8> {
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

/// Batches up to this many items run on the calling task: sled serves them from its cache in a
/// few microseconds, less than the two thread hand-offs of `spawn_blocking` cost (they were most
/// of a single-item call's latency). Larger batches go to the blocking pool.
const INLINE_ITEMS: usize = 32;

/// Runs `work` (blocking sled calls over `items` items) inline when small, else on the blocking
/// pool.
async fn blocking<T, F>(items: usize, work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    if items <= INLINE_ITEMS {
        work()
    } else {
        tokio::task::spawn_blocking(work).await.map_err(join)?
    }
}

/// Writes all `writes` so that a crash keeps all or none. One key is a plain insert (atomic by
/// itself); more go through a sled batch, whose log manifest costs an extra log write and flush —
/// measured as most of a single-item request's latency.
fn write_atomically(tree: &sled::Tree, writes: Vec<(Vec<u8>, Vec<u8>)>) -> StoreResult<()> {
    if let [(key, value)] = writes.as_slice() {
        tree.insert(key.as_slice(), value.as_slice())
            .map_err(backend)?;
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        batch.insert(key, value);
    }
    tree.apply_batch(batch).map_err(backend)
}

fn stripe(id: u64) -> usize {
    usize::try_from(id % LOCK_STRIPES as u64).unwrap_or(0)
}

#[async_trait]
impl Store for SledStore {
    async fn next_id(&self) -> StoreResult<u64> {
        // sled ids start at 0; ours start at 1 so 0 can mean "none" (operator chain, tenant-wide).
        self.trees
            .db
            .generate_id()
            .map(|id| id + 1)
            .map_err(backend)
    }

    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()> {
        let id = tenant.id.to_string().into_bytes();
        if !self.insert_new(&format!("tenant-name/{}", tenant.name), id)? {
            return Err(StoreError::AlreadyExists("tenant"));
        }
        self.put_json(&format!("keys/{}", tenant.id), keys)?;
        self.put_json(&format!("tenant/{}", tenant.id), tenant)
    }

    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>> {
        self.get_json(&format!("tenant/{id}"))
    }

    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>> {
        self.get_json(&format!("keys/{tenant_id}"))
    }

    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        let bytes = serde_json::to_vec(domain).map_err(|_| StoreError::Corrupt("domain"))?;
        if !self.insert_new(
            &format!("domain/{}/{}", domain.tenant_id, domain.name),
            bytes,
        )? {
            return Err(StoreError::AlreadyExists("domain"));
        }
        self.commit.wrote();
        Ok(())
    }

    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        self.put_json(
            &format!("domain/{}/{}", domain.tenant_id, domain.name),
            domain,
        )
    }

    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>> {
        self.get_json(&format!("domain/{tenant_id}/{name}"))
    }

    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>> {
        self.scan_json(&format!("domain/{tenant_id}/"))
    }

    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()> {
        self.put_json(
            &format!("purpose/{}/{}", purpose.tenant_id, purpose.name),
            purpose,
        )
    }

    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>> {
        self.get_json(&format!("purpose/{tenant_id}/{name}"))
    }

    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>> {
        self.scan_json(&format!("purpose/{tenant_id}/"))
    }

    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()> {
        self.put_json(
            &format!("rpolicy/{}/{}", policy.tenant_id, policy.name),
            policy,
        )
    }

    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>> {
        self.get_json(&format!("rpolicy/{tenant_id}/{name}"))
    }

    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>> {
        self.scan_json(&format!("rpolicy/{tenant_id}/"))
    }

    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        let old = self
            .trees
            .meta
            .remove(format!("rpolicy/{tenant_id}/{name}"))
            .map_err(backend)?;
        self.commit.wrote();
        Ok(old.is_some())
    }

    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()> {
        if let Some(fp) = &principal.client_cert_sha256 {
            let key = format!("cert/{fp}");
            let swapped = self
                .trees
                .meta
                .compare_and_swap(&key, None::<&[u8]>, Some(principal.id.as_bytes()))
                .map_err(backend)?;
            if let Err(current) = swapped
                && current.current.as_deref() != Some(principal.id.as_bytes())
            {
                return Err(StoreError::AlreadyExists("client certificate binding"));
            }
        }
        self.put_json(&format!("principal/{}", principal.id), principal)
    }

    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.get_json(&format!("principal/{id}"))
    }

    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>> {
        match self
            .trees
            .meta
            .get(format!("cert/{sha256_hex}"))
            .map_err(backend)?
        {
            Some(id) => self.get_json(&format!("principal/{}", String::from_utf8_lossy(&id))),
            None => Ok(None),
        }
    }

    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>> {
        let all: Vec<PrincipalRecord> = self.scan_json("principal/")?;
        Ok(all
            .into_iter()
            .filter(|p| p.tenant_id == tenant_id)
            .collect())
    }

    async fn insert_mappings(
        &self,
        _tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>> {
        let trees = Arc::clone(&self.trees);
        let (outcomes, wrote, stored) = blocking(rows.len(), move || -> StoreResult<_> {
            let _guard = trees.stripes[stripe(domain_id)]
                .lock()
                .map_err(|_| backend("lock poisoned"))?;
            let mut writes = Vec::new();
            let mut outcomes = Vec::with_capacity(rows.len());
            // Identifiers repeated inside this very batch get the first row's pseudonym.
            let mut in_batch: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut wrote = false;
            // Keyed rows (no blind index) now known to be stored, for `KnownMappings`.
            let mut stored = Vec::new();
            for row in rows {
                if row.blind.is_none() {
                    stored.push(row.pseudonym.clone());
                }
                let probe = match &row.blind {
                    Some(blind) => {
                        let mut k = vec![b'b'];
                        k.extend_from_slice(&domain_id.to_be_bytes());
                        k.extend_from_slice(blind);
                        k
                    }
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
                let mkey = mapping_key(domain_id, &row.pseudonym);
                writes.push((mkey, encode_mapping(&row.record)));
                if row.blind.is_some() {
                    writes.push((probe.clone(), row.pseudonym.clone()));
                }
                in_batch.insert(probe, row.pseudonym.clone());
                outcomes.push(InsertOutcome::Inserted);
                wrote = true;
            }
            if wrote {
                write_atomically(&trees.data, writes)?;
            }
            Ok((outcomes, wrote, stored))
        })
        .await?;
        if wrote {
            self.commit.wrote();
        }
        // After `wrote()`: whoever trusts the table and then syncs also covers these writes.
        self.known
            .remember(domain_id, stored.iter().map(Vec::as_slice));
        Ok(outcomes)
    }

    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>> {
        let trees = Arc::clone(&self.trees);
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
        let known = self.known.lookup(domain_id, &pseudonyms);
        let misses = known.iter().filter(|k| !**k).count();
        if misses == 0 {
            return Ok(known);
        }
        let trees = Arc::clone(&self.trees);
        let (pseudonyms, answer) = blocking(misses, move || {
            let answer = pseudonyms
                .iter()
                .zip(known)
                .map(|(p, known)| {
                    if known {
                        return Ok(true);
                    }
                    trees
                        .data
                        .contains_key(mapping_key(domain_id, p))
                        .map_err(backend)
                })
                .collect::<StoreResult<Vec<bool>>>()?;
            Ok((pseudonyms, answer))
        })
        .await?;
        self.known.remember(
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
        let trees = Arc::clone(&self.trees);
        blocking(limit, move || {
            let prefix = mapping_key(domain_id, &[]);
            let start = mapping_key(domain_id, &after);
            let mut end = prefix.clone();
            // `m|domain+1`: the first key after this domain's mappings.
            end.truncate(1);
            end.extend_from_slice(&domain_id.saturating_add(1).to_be_bytes());
            trees
                .data
                .range(start..end)
                .filter(|kv| {
                    kv.as_ref()
                        .map_or(true, |(k, _)| k.as_ref() != mapping_key(domain_id, &after))
                })
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

    async fn put_job(&self, job: &JobRecord) -> StoreResult<()> {
        self.put_json(&format!("job/{:020}", job.id), job)
    }

    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>> {
        self.get_json(&format!("job/{id:020}"))
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRecord>> {
        self.scan_json("job/")
    }

    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()> {
        self.put_json(&format!("pending/{:020}", op.id), op)
    }

    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>> {
        self.scan_json("pending/")
    }

    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>> {
        self.scan_json(&format!("usage/{tenant_id}/"))
    }

    async fn put_key_usage(&self, tenant_id: u64, version: u32, reserved: u64) -> StoreResult<()> {
        self.put_json(
            &format!("usage/{tenant_id}/{version:010}"),
            &(version, reserved),
        )
    }

    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        mut event: ConsentEvent,
    ) -> StoreResult<ConsentEvent> {
        let prefix = consent_prefix(tenant_id, &subject, purpose);
        {
            let _guard = self.trees.stripes[stripe(tenant_id)]
                .lock()
                .map_err(|_| backend("lock poisoned"))?;
            let last = self
                .trees
                .consent
                .scan_prefix(&prefix)
                .next_back()
                .transpose()
                .map_err(backend)?;
            event.seq = match last {
                Some((_, v)) => {
                    serde_json::from_slice::<ConsentEvent>(&v)
                        .map_err(|_| StoreError::Corrupt("consent"))?
                        .seq
                        + 1
                }
                None => 1,
            };
            let mut key = prefix;
            key.extend_from_slice(&event.seq.to_be_bytes());
            let bytes = serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("consent"))?;
            self.trees.consent.insert(key, bytes).map_err(backend)?;
        }
        self.commit.wrote();
        Ok(event)
    }

    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()> {
        let key = format!("ctext/{tenant_id}/{}/{:010}", text.purpose, text.version);
        let bytes = serde_json::to_vec(text).map_err(|_| StoreError::Corrupt("consent text"))?;
        let swapped = self
            .trees
            .meta
            .compare_and_swap(key, None::<&[u8]>, Some(bytes))
            .map_err(backend)?;
        if swapped.is_err() {
            return Err(StoreError::AlreadyExists("consent text version"));
        }
        self.commit.wrote();
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
        self.trees
            .evidence
            .insert(evidence_key(tenant_id, id), ciphertext)
            .map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .trees
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
        let prefix = tenant_id.to_be_bytes();
        let start = evidence_key(tenant_id, &after);
        let mut out = Vec::new();
        for kv in self.trees.evidence.range(start..) {
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
        let swapped = self
            .trees
            .evidence
            .compare_and_swap(evidence_key(tenant_id, id), Some(current), Some(ciphertext))
            .map_err(backend)?;
        if swapped.is_ok() {
            self.commit.wrote();
        }
        Ok(swapped.is_ok())
    }

    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
    ) -> StoreResult<bool> {
        self.swap_mapping(
            domain_id,
            pseudonym,
            current,
            &MappingRecord {
                expires_ms,
                ..current.clone()
            },
        )
    }

    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>> {
        let prefix = blind_key(domain_id, &[]);
        self.trees
            .data
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

    async fn request_compaction(&self) -> StoreResult<()> {
        super::compact::request(&self.dir)
    }

    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .trees
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
        // The known-mappings table must not claim it once the deletion is visible.
        self.known.forget(domain_id, pseudonym);
        let mut batch = sled::Batch::default();
        batch.remove(mapping_key(domain_id, pseudonym));
        if let Some(blind) = blind {
            batch.remove(blind_key(domain_id, &blind));
        }
        self.trees.data.apply_batch(batch).map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64> {
        let mut prefix = tenant_id.to_be_bytes().to_vec();
        prefix.extend_from_slice(&subject);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.trees.consent.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(backend)?;
            batch.remove(k);
            n += 1;
        }
        self.trees.consent.apply_batch(batch).map_err(backend)?;
        self.commit.wrote();
        Ok(n)
    }

    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool> {
        let old = self
            .trees
            .evidence
            .remove(evidence_key(tenant_id, id))
            .map_err(backend)?;
        self.commit.wrote();
        Ok(old.is_some())
    }

    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()> {
        self.put_json(&format!("restrict/{tenant_id}/{}", r.subject), r)
    }

    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool> {
        let old = self
            .trees
            .meta
            .remove(format!("restrict/{tenant_id}/{subject_hex}"))
            .map_err(backend)?;
        self.commit.wrote();
        Ok(old.is_some())
    }

    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>> {
        self.scan_json(&format!("restrict/{tenant_id}/"))
    }

    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()> {
        self.put_json(&format!("tomb/{tenant_id}/{}", t.subject), t)
    }

    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>> {
        self.get_json(&format!("tomb/{tenant_id}/{subject_hex}"))
    }

    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()> {
        // One writer per tenant at a time (sequence assignment).
        let _guard = self.trees.stripes[stripe(tenant_id)]
            .lock()
            .map_err(|_| StoreError::Backend("lock poisoned".into()))?;
        let prefix = tenant_id.to_be_bytes();
        let next = match self
            .trees
            .subject_events
            .scan_prefix(prefix)
            .next_back()
            .transpose()
            .map_err(backend)?
        {
            Some((k, _)) if k.len() == 16 => {
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&k[8..]);
                u64::from_be_bytes(seq) + 1
            }
            _ => 1,
        };
        let mut batch = sled::Batch::default();
        for (seq, mut event) in (next..).zip(events) {
            event.seq = seq;
            let mut key = prefix.to_vec();
            key.extend_from_slice(&seq.to_be_bytes());
            let bytes =
                serde_json::to_vec(&event).map_err(|_| StoreError::Corrupt("subject event"))?;
            batch.insert(key, bytes);
        }
        self.trees
            .subject_events
            .apply_batch(batch)
            .map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>> {
        let mut start = tenant_id.to_be_bytes().to_vec();
        start.extend_from_slice(&after.saturating_add(1).to_be_bytes());
        let mut end = tenant_id.to_be_bytes().to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        self.trees
            .subject_events
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("subject event"))
            })
            .collect()
    }

    async fn mark_once(&self, key: &str) -> StoreResult<bool> {
        let swapped = self
            .trees
            .meta
            .compare_and_swap(format!("mark/{key}"), None::<&[u8]>, Some(&b"1"[..]))
            .map_err(backend)?;
        if swapped.is_ok() {
            self.commit.wrote();
        }
        Ok(swapped.is_ok())
    }

    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        let trees = Arc::clone(&self.trees);
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
                let event: ConsentEvent =
                    serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("consent"))?;
                out.push((subject, purpose, event));
            }
            Ok(out)
        })
        .await
        .map_err(join)?
    }

    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>> {
        self.trees
            .consent
            .scan_prefix(consent_prefix(tenant_id, &subject, purpose))
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("consent"))
            })
            .collect()
    }

    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>> {
        let trees = Arc::clone(&self.trees);
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
                    match last {
                        Some((_, v)) => serde_json::from_slice(&v)
                            .map(Some)
                            .map_err(|_| StoreError::Corrupt("consent")),
                        None => Ok(None),
                    }
                })
                .collect()
        })
        .await
    }

    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append_audit_lazy(chain, entries).await?;
        self.commit.wrote();
        Ok(())
    }

    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let mut next = self
            .trees
            .audit_next
            .lock()
            .map_err(|_| backend("lock poisoned"))?;
        let (seq, prev) = match next.get(&chain) {
            Some(head) => head.clone(),
            None => match self.last_audit_entry(chain)? {
                Some(last) => (last.seq + 1, last.hash),
                None => (1, valv_proto::audit::GENESIS.to_vec()),
            },
        };
        let mut writes = Vec::with_capacity(entries.len());
        let (mut seq, mut prev) = (seq, prev);
        for record in entries {
            let entry = record.chained(chain, seq, prev);
            writes.push((audit_key(chain, seq), entry.encode_to_vec()));
            prev = entry.hash;
            seq += 1;
        }
        write_atomically(&self.trees.audit, writes)?;
        next.insert(chain, (seq, prev));
        Ok(())
    }

    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let trees = Arc::clone(&self.trees);
        blocking(limit, move || {
            trees
                .audit
                .range(audit_key(chain, from_seq)..audit_key(chain.saturating_add(1), 0))
                .take(limit)
                .map(|kv| {
                    let (_, v) = kv.map_err(backend)?;
                    AuditEntry::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("audit entry"))
                })
                .collect()
        })
        .await
    }

    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        if let Some((next, hash)) = self
            .trees
            .audit_next
            .lock()
            .map_err(|_| backend("lock poisoned"))?
            .get(&chain)
        {
            return Ok((*next > 1).then(|| (next - 1, hash.clone())));
        }
        Ok(self.last_audit_entry(chain)?.map(|e| (e.seq, e.hash)))
    }

    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()> {
        self.trees
            .audit_checkpoints
            .insert(
                audit_key(checkpoint.chain, checkpoint.seq),
                checkpoint.encode_to_vec(),
            )
            .map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        self.trees
            .audit_checkpoints
            .scan_prefix(chain.to_be_bytes())
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                AuditCheckpoint::decode(v.as_ref()).map_err(|_| StoreError::Corrupt("checkpoint"))
            })
            .collect()
    }

    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>> {
        match self
            .trees
            .meta
            .get(format!("tenant-name/{name}"))
            .map_err(backend)?
        {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or(StoreError::Corrupt("tenant name row")),
            None => Ok(None),
        }
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        self.scan_json("tenant/")
    }

    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        self.put_json(&format!("tenant/{}", tenant.id), tenant)
    }

    async fn delete_tenant_keys(&self, tenant_id: u64) -> StoreResult<()> {
        self.trees
            .meta
            .remove(format!("keys/{tenant_id}"))
            .map_err(backend)?;
        self.commit.wrote();
        Ok(())
    }

    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>> {
        self.scan_json("keys/")
    }

    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()> {
        self.put_json(&format!("keys/{}", keys.tenant_id), keys)
    }

    async fn sync(&self) -> StoreResult<()> {
        self.commit.sync().await
    }

    async fn sync_all(&self) -> StoreResult<()> {
        self.commit.wrote();
        self.commit.sync().await
    }

    async fn size_on_disk(&self) -> StoreResult<u64> {
        self.trees.db.size_on_disk().map_err(backend)
    }
}
