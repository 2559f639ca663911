//! Shared state of a running vault, as parts with one job each: the store, clock and limits,
//! the audit append point and metrics, the seal, the key cache ([`keys`]), the restriction view
//! ([`restrictions`]) and the subject-event bus ([`events`]). Each part keeps its locks to
//! itself.

pub mod consents;
pub mod events;
pub mod fence;
pub mod generations;
pub mod keys;
pub mod quotas;
pub mod restrictions;
pub mod rows;
pub mod running;
pub mod serials;
pub mod settings;
pub mod subject_rows;

use std::sync::Arc;

use valv_kms::{RootKeyProvider, RootKeySlot, SealedRoot};

pub use self::keys::{DomainDataKeys, DomainKeys, KeyCache};
use self::{
    events::SubjectEvents, generations::Generations, restrictions::Restrictions, running::Running,
};
use crate::{
    audit::AuditLog, config::Limits, engine::clock::Clock, error::VaultResult,
    observe::metrics::Metrics, store::Store,
};

/// The running vault's state.
pub struct App {
    /// Storage back-end.
    pub store: Arc<dyn Store>,
    /// Sealing state; `None` for vaults without a seal file (file and pkcs11 providers).
    pub seal: Option<crate::keys::seal::SealState>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Request limits.
    pub limits: Limits,
    /// Audit append point.
    pub audit: AuditLog,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Root key, key rings, domain keys, gates and key-use allotments.
    pub keys: KeyCache,
    /// Restricted subjects per tenant.
    pub restrictions: Restrictions,
    /// Wakes subject-event streams; expiry hints for the ticker.
    pub events: SubjectEvents,
    /// The jobs running in this vault instance.
    pub running: Running,
    /// Stored rows that passed their integrity check (see [`rows`]).
    pub rows: rows::RowCache,
    /// Per-principal quotas (see [`quotas`]).
    pub quotas: quotas::Quotas,
    /// Format-preserving serials reserved by this process (see [`serials`]).
    pub serials: serials::Serials,
    /// This process's name as a job-lease holder, unique among the nodes sharing a store and
    /// the same across restarts, so a restarted node takes back the leases its previous run
    /// held (see [`default_node_id`]).
    pub node_id: String,
    generations: Arc<Generations>,
}

/// A node's default name: the host name (`HOSTNAME`, else `/etc/hostname`, else `valv`) and the
/// first 8 hex digits of SHA-256 over the data directory's absolute path — so two nodes on one
/// host (each with its data directory) differ, and a restarted node keeps its name.
pub fn default_node_id(data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "valv".to_owned());
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    format!("{host}/{}", hex::encode(&digest[..4]))
}

impl App {
    /// Builds the state: unsealed with `slot`'s current root key, or sealed (no key at all)
    /// when `seal` is given and `slot` is `None`.
    pub fn new(
        store: Arc<dyn Store>,
        slot: Option<Arc<dyn RootKeySlot>>,
        seal: Option<crate::keys::seal::SealState>,
        clock: Arc<dyn Clock>,
        limits: Limits,
        checkpoint_entries: u64,
    ) -> VaultResult<Self> {
        let metrics = Arc::new(Metrics::new());
        let root: Arc<dyn RootKeyProvider> = match &slot {
            Some(slot) => slot.current()?,
            None => Arc::new(SealedRoot),
        };
        let generations = Arc::new(Generations::default());
        Ok(Self {
            audit: AuditLog::new(Arc::clone(&store), checkpoint_entries, Arc::clone(&metrics)),
            metrics,
            keys: KeyCache::new(
                Arc::clone(&store),
                (root, slot),
                limits.key_use_budget,
                Arc::clone(&generations),
            ),
            restrictions: Restrictions::new(Arc::clone(&generations)),
            events: SubjectEvents::default(),
            running: Running::default(),
            rows: rows::RowCache::default(),
            quotas: quotas::Quotas::default(),
            serials: serials::Serials::default(),
            store,
            seal,
            clock,
            limits,
            node_id: "valv".to_owned(),
            generations,
        })
    }

    /// Reads the tenant's change counter from the store (once per request): when another
    /// process — or this one — changed what the caches hold, they are no longer served, and a
    /// tenant shredded elsewhere is refused from now on. Returns the counter read (a concurrent
    /// request may record an older read afterwards, so a caller that compares uses this one).
    pub async fn observe(&self, tenant_id: u64) -> VaultResult<u64> {
        let now = self.store.tenant_generation(tenant_id).await?;
        if self.generations.record(tenant_id, now)
            && self
                .store
                .tenant(tenant_id)
                .await?
                .is_some_and(|t| t.shredded_ms != 0)
        {
            self.keys.mark_shredded(tenant_id)?;
        }
        Ok(now)
    }

    /// The tenant's change counter as this process last read it from the store (by
    /// [`App::observe`]).
    pub fn generation_seen(&self, tenant_id: u64) -> u64 {
        self.generations.current(tenant_id)
    }

    /// True while no root key is in memory (a sealed vault before its shares arrived).
    pub fn is_sealed(&self) -> bool {
        self.seal.as_ref().is_some_and(|s| s.is_sealed())
    }

    /// Updates the gauges that are read rather than counted (before a metrics scrape).
    pub async fn refresh_metrics(&self) {
        if let Ok(bytes) = self.store.size_on_disk().await {
            self.metrics.set_store_size(bytes);
        }
        if let Some(stats) = self.store.commit_stats() {
            self.metrics.set_commit_stats(stats);
        }
        let now = self.now_ms();
        let loaded = self.keys.loaded();
        for keys in loaded {
            for (version, state, created) in keys.versions() {
                let state = match state {
                    valv_kms::KeyState::Active => "active",
                    valv_kms::KeyState::DecryptOnly => "decrypt-only",
                    valv_kms::KeyState::Retired => "retired",
                    valv_kms::KeyState::Destroyed => "destroyed",
                };
                self.metrics.set_key_age(
                    keys.tenant_id(),
                    version,
                    state,
                    (now - created).max(0) / 1000,
                );
            }
        }
    }

    /// Now, from the injected clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
