//! The embedded default back-end: sled, in one data directory, one file per store family.
//!
//! Layout (all keys big-endian so ranges sort):
//! - `meta`: JSON registry rows (`tenant/…`, `keys/…`, `domain/…`, `purpose/…`, `principal/…`,
//!   `job/…`, `pending/…`, `usage/…`, `restrict/…`, `tomb/…`, `mark/…`), each tenant's change
//!   counter (`gen/…`, u64) and the last id handed out (`ids/last`, u64).
//! - `data`: `m|domain|pseudonym` → mapping (binary, see `codec`, holding the subject handle),
//!   `b|domain|blind` → pseudonym. One tree, so a batch is atomic. There is no separate
//!   subject-index row: see `MappingStore::insert_mappings`.
//! - `consent`: `tenant|subject|purpose|0|seq` → JSON event.
//! - `subject_events`: `tenant|seq` → JSON subject event (what downstream systems are told).
//! - `evidence`: `tenant|receipt id` → AES-256-GCM consent evidence (consent texts are
//!   `meta` rows `ctext/…`).
//! - `audit`: `chain|seq` → protobuf `AuditEntry` (hash-chained);
//!   `audit_checkpoints`: `chain|seq` → protobuf `AuditCheckpoint`;
//!   `audit_subjects`: `chain|len|subject|seq` → empty (the subject index, written with the
//!   entries in one transaction).
//!
//! One process at a time: sled locks its directory, so a second process cannot open the same
//! store. Process-local state here (the audit chain heads, the stripe locks, the known-mappings
//! table) is therefore exactly as current as the store itself; a back-end that several
//! processes share must not keep such state (see `ARCHITECTURE.md`).

mod audit;
pub mod codec;
mod commit;
pub mod compact;
mod consents;
mod jobs;
mod keys;
mod mappings;
mod registry;
mod subject_index;
mod subjects;
mod watch;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};

use self::{
    commit::GroupCommit,
    watch::{Engine, Files},
};
use super::{Durability, StoreError, StoreResult, known::KnownMappings, operation::Operation};

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
    audit_subjects: sled::Tree,
    /// Serialises check-then-insert per domain, and sequence assignment per tenant (consents,
    /// subject events). Writers count their write toward the group commit before releasing it.
    stripes: Vec<Mutex<()>>,
    /// Per chain: the next sequence number and the hash of the last entry, changed only with
    /// the map locked and after the entries are written.
    audit_next: Mutex<HashMap<u64, (u64, Vec<u8>)>>,
    commit: GroupCommit,
    known: KnownMappings,
}

impl Trees {
    fn stripe(&self, id: u64) -> StoreResult<MutexGuard<'_, ()>> {
        let i = usize::try_from(id % LOCK_STRIPES as u64).unwrap_or(0);
        self.stripes[i].lock().map_err(|_| backend("lock poisoned"))
    }

    /// Opens (or creates) the engine in `dir`. Everything here that is kept in memory (chain
    /// heads, known mappings, the write count) is derived from the files, so an engine opened
    /// again after a failure starts from what is on disk.
    fn open(dir: &Path, options: &SledOptions) -> StoreResult<Arc<Self>> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(backend)?;
        let flush_db = db.clone();
        // sled's flush on Linux ends in `sync_file_range`, which persists the written pages but
        // not the file's metadata (size, extent allocation), and sled itself `fsync`s only once
        // a second. `fdatasync` on our own handle of the same log file closes that window, so a
        // flushed write also survives a power cut, not only a killed process.
        let log = std::fs::File::open(dir.join("db")).map_err(backend)?;
        let commit = GroupCommit::start(move || {
            flush_db.flush().map_err(|e| e.to_string())?;
            log.sync_data().map_err(|e| e.to_string())
        });
        let trees = Arc::new(Self {
            meta: db.open_tree("meta").map_err(backend)?,
            data: db.open_tree("data").map_err(backend)?,
            consent: db.open_tree("consent").map_err(backend)?,
            evidence: db.open_tree("evidence").map_err(backend)?,
            subject_events: db.open_tree("subject_events").map_err(backend)?,
            audit: db.open_tree("audit").map_err(backend)?,
            audit_checkpoints: db.open_tree("audit_checkpoints").map_err(backend)?,
            audit_subjects: db.open_tree("audit_subjects").map_err(backend)?,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            audit_next: Mutex::new(HashMap::new()),
            commit,
            known: KnownMappings::new(),
            db,
        });
        subject_index::index_older_entries(&trees.audit, &trees.audit_subjects, &trees.meta)?;
        seed_id_counter(&trees)?;
        trees.db.flush().map_err(backend)?;
        // The directory entries of a store made now (its files, its directory) are durable
        // before anything is acknowledged from it.
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            if !d.as_os_str().is_empty() {
                std::fs::File::open(d)
                    .and_then(|f| f.sync_all())
                    .map_err(backend)?;
            }
        }
        Ok(trees)
    }
}

/// The row a reopen writes and flushes to prove the disk takes writes again.
const PROBE_KEY: &str = "watch/probe";

impl Files for Trees {
    type Options = SledOptions;

    fn reopen(dir: &Path, options: &SledOptions) -> StoreResult<Arc<Self>> {
        let trees = Self::open(dir, options)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        trees
            .meta
            .insert(PROBE_KEY, &now.to_be_bytes())
            .map_err(backend)?;
        trees.db.flush().map_err(backend)?;
        std::fs::File::open(dir.join("db"))
            .and_then(|log| log.sync_data())
            .map_err(backend)?;
        Ok(trees)
    }

    fn check(&self) -> StoreResult<()> {
        self.db.flush().map(drop).map_err(backend)
    }
}

/// The sled store.
pub struct SledStore {
    dir: std::path::PathBuf,
    engine: Arc<Engine<Trees>>,
    /// Stops the watcher when the store is dropped.
    _watcher: watch::Watcher,
}

/// sled's errors: a failed disk (`Io`) is the store being unavailable, with the reason the
/// operating system gave (no space, read-only); anything else is a back-end failure.
fn backend(e: impl Into<BackendError>) -> StoreError {
    match e.into() {
        BackendError::Io(io) => StoreError::Unavailable(watch::disk_failure(&io)),
        BackendError::Other(text) => StoreError::Backend(text),
    }
}

/// What `backend` classifies.
enum BackendError {
    Io(std::io::Error),
    Other(String),
}

impl From<sled::Error> for BackendError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => Self::Io(io),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<&str> for BackendError {
    fn from(e: &str) -> Self {
        Self::Other(e.to_owned())
    }
}

impl From<String> for BackendError {
    fn from(e: String) -> Self {
        Self::Other(e)
    }
}

fn join(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("blocking task: {e}"))
}

/// How the embedded store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SledOptions {
    /// What sled may keep of its pages in memory, in bytes. sled counts only part of what a
    /// cached page takes, so the process's resident memory settles at a multiple of this
    /// (measured in `BENCHMARKS.md`).
    pub cache_bytes: u64,
}

/// [`SledOptions::cache_bytes`] by default, in MiB.
pub const DEFAULT_CACHE_MIB: u64 = 64;

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_bytes: DEFAULT_CACHE_MIB * 1024 * 1024,
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with the default options (see
    /// [`SledStore::open_with`]).
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with(dir, SledOptions::default())
    }

    /// Opens (or creates) the store in `dir`, and starts watching its disk: when writing fails
    /// (full, read-only), every call fails with `UNAVAILABLE` until the engine could be opened
    /// again on a disk that takes writes (see `watch`).
    pub fn open_with(dir: &Path, options: SledOptions) -> StoreResult<Self> {
        let trees = Trees::open(dir, &options)?;
        let engine = Engine::new(dir, options, trees);
        let watcher = watch::Watcher::start(&engine);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine,
            _watcher: watcher,
        })
    }

    /// The engine now, or why there is none (the disk failed and it is not open again yet).
    fn trees(&self) -> StoreResult<Arc<Trees>> {
        self.engine.trees()
    }

    fn get_json<T: DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        let t = self.trees()?;
        match t.meta.get(key).map_err(backend)? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|_| StoreError::Corrupt("registry row")),
            None => Ok(None),
        }
    }

    fn put_json<T: Serialize>(&self, key: &str, value: &T) -> StoreResult<()> {
        let t = self.trees()?;
        let bytes = to_json(value)?;
        t.meta.insert(key, bytes).map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    fn scan_json<T: DeserializeOwned>(&self, prefix: &str) -> StoreResult<Vec<T>> {
        let t = self.trees()?;
        t.meta
            .scan_prefix(prefix)
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("registry row"))
            })
            .collect()
    }

    /// Inserts `key` only if absent, atomically. False if it existed.
    fn insert_new(&self, key: &str, value: Vec<u8>) -> StoreResult<bool> {
        let t = self.trees()?;
        let swapped = t
            .meta
            .compare_and_swap(key, None::<&[u8]>, Some(value))
            .map_err(backend)?;
        if swapped.is_ok() {
            t.commit.wrote();
        }
        Ok(swapped.is_ok())
    }

    /// Replaces the JSON row `key` with `change(current)` by compare-and-swap, retried while
    /// another writer got there first; `change` returning `None` writes nothing. The row as
    /// written, or `None`.
    fn update_json<T, F>(&self, key: &str, mut change: F) -> StoreResult<Option<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        let t = self.trees()?;
        loop {
            let old = t.meta.get(key).map_err(backend)?;
            let current = match &old {
                Some(v) => Some(
                    serde_json::from_slice(v).map_err(|_| StoreError::Corrupt("registry row"))?,
                ),
                None => None,
            };
            let Some(next) = change(current) else {
                return Ok(None);
            };
            let swapped = t
                .meta
                .compare_and_swap(key, old, Some(to_json(&next)?))
                .map_err(backend)?;
            if swapped.is_ok() {
                t.commit.wrote();
                return Ok(Some(next));
            }
        }
    }

    /// Raises a tenant's change counter (after the change it announces is visible).
    fn bump(&self, tenant_id: u64) -> StoreResult<()> {
        let t = self.trees()?;
        t.meta
            .update_and_fetch(generation_key(tenant_id), |old| {
                let n = old.and_then(be_u64).unwrap_or(0);
                Some(n.saturating_add(1).to_be_bytes().to_vec())
            })
            .map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }
}

/// The `meta` row holding the last id `next_id` handed out (u64, big-endian).
const LAST_ID: &str = "ids/last";

/// A store made before the id counter row: start it above every id stored in a registry row
/// and above sled's own generator, which handed those ids out.
fn seed_id_counter(trees: &Trees) -> StoreResult<()> {
    if trees.meta.contains_key(LAST_ID).map_err(backend)? {
        return Ok(());
    }
    let mut last = trees.db.generate_id().map_err(backend)?.saturating_add(1);
    for row in trees.meta.iter() {
        let (_, value) = row.map_err(backend)?;
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&value)
            && let Some(id) = fields.get("id").and_then(serde_json::Value::as_u64)
        {
            last = last.max(id);
        }
    }
    trees
        .meta
        .insert(LAST_ID, &last.to_be_bytes())
        .map_err(backend)?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| StoreError::Corrupt("registry row"))
}

fn generation_key(tenant_id: u64) -> String {
    format!("gen/{tenant_id}")
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
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

#[async_trait]
impl Durability for SledStore {
    async fn sync(&self) -> StoreResult<()> {
        let t = self.trees()?;
        t.commit.sync().await
    }

    async fn sync_all(&self) -> StoreResult<()> {
        let t = self.trees()?;
        t.commit.wrote();
        t.commit.sync().await
    }

    async fn request_compaction(&self) -> StoreResult<()> {
        compact::request(&self.dir)
    }

    async fn size_on_disk(&self) -> StoreResult<u64> {
        let t = self.trees()?;
        t.db.size_on_disk().map_err(backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.trees().map(|_| ())
    }

    fn operation(&self) -> Operation {
        self.engine.operation()
    }

    fn commit_stats(&self) -> Option<crate::store::CommitStats> {
        self.trees().ok().map(|t| t.commit.stats())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::AuditStore;

    crate::conformance_suite!(crate::store::conformance::fixture::sled());

    #[tokio::test]
    async fn a_store_from_before_the_id_counter_hands_out_ids_above_every_stored_one() {
        use crate::store::RegistryStore;
        let dir = tempfile::tempdir().unwrap();
        {
            let store = super::SledStore::open(dir.path()).unwrap();
            let trees = store.trees().unwrap();
            trees.meta.remove(super::LAST_ID).unwrap();
            trees
                .meta
                .insert(
                    "job/7",
                    br#"{"id": 4000001, "kind": "retention"}"#.as_slice(),
                )
                .unwrap();
            crate::store::Durability::sync_all(&store).await.unwrap();
        }
        let store = super::SledStore::open(dir.path()).unwrap();
        let id = store.next_id().await.unwrap();
        assert!(id > 4_000_001, "{id}");
        assert_eq!(store.next_id().await.unwrap(), id + 1);
    }

    #[tokio::test]
    async fn an_audit_chain_continues_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let entry = crate::audit::entry(1, "p", "x");
        {
            let store = super::SledStore::open(dir.path()).unwrap();
            store.append_audit(5, vec![entry.clone()]).await.unwrap();
            crate::store::Durability::sync(&store).await.unwrap();
        }
        let store = super::SledStore::open(dir.path()).unwrap();
        store.append_audit(5, vec![entry]).await.unwrap();
        let entries = store.read_audit(5, 1, 100).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(entries[1].prev_hash, entries[0].hash);
    }

    #[tokio::test]
    async fn entries_written_before_the_subject_index_are_indexed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let subject = "ab".repeat(16);
        let mut named = crate::audit::entry(1, "p", "consent.grant");
        named.subject = Some(subject.clone());
        {
            let store = super::SledStore::open(dir.path()).unwrap();
            let plain = crate::audit::entry(1, "p", "x");
            store
                .append_audit(5, vec![plain, named.clone(), named])
                .await
                .unwrap();
            crate::store::Durability::sync(&store).await.unwrap();
        }
        // A store from before the index: no index keys and no marker.
        {
            // sled lets go of its directory lock once its threads noticed the store is gone.
            let db = (0..100)
                .find_map(|_| {
                    sled::open(dir.path())
                        .inspect_err(|_| std::thread::sleep(std::time::Duration::from_millis(50)))
                        .ok()
                })
                .unwrap();
            db.drop_tree("audit_subjects").unwrap();
            db.open_tree("meta")
                .unwrap()
                .remove(super::subject_index::INDEXED)
                .unwrap();
            db.flush().unwrap();
        }
        for _ in 0..100 {
            if let Ok(store) = super::SledStore::open(dir.path()) {
                let found = store.subject_audit(5, &subject, 0, 10).await.unwrap();
                assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the store stayed locked");
    }
}
