//! The key cache: the root key in use, unwrapped tenant key rings, prepared per-domain keys
//! (so the hot path derives nothing), the per-tenant gates that keep a request from straddling
//! two key rings, and this process's allotments of key uses.
//!
//! Invalidation (see `ARCHITECTURE.md`, "Caches"): every entry is stamped with the tenant's
//! change counter as last read ([`Generations`]) when loading began, and served only while the
//! stamp is still current; a key-ring change in this process also replaces the entry at once.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use valv_kms::{
    DataKey, DerivedKeyPurpose, KeyVersion, RootKeyProvider, RootKeySlot, SealedRoot, TenantKeys,
    WrappedTenantKeys,
};

use super::generations::Generations;
use crate::{
    engine::{
        mapping_bound,
        scheme::{PseudonymKey, Scheme},
        subject::SubjectHasher,
    },
    error::{VaultError, VaultResult},
    store::{
        Store,
        records::{DomainRecord, MappingRecord},
    },
};

/// This process's allotment of encryptions under one key version: it may use `next..end`, a
/// range it reserved in the store.
#[derive(Debug, Clone, Copy, Default)]
struct KeyUse {
    next: u64,
    end: u64,
}

/// Prepared keys of one domain in one pseudonym epoch.
pub struct DomainKeys {
    /// MAC / blind-index / FF1 key of the domain's scheme.
    pub pseudonym: PseudonymKey,
    /// Tenant-wide subject handles.
    pub subject: SubjectHasher,
    /// The active data key (for encrypting new mappings).
    pub data_key: DataKey,
}

/// A domain's data keys by version, derived on first use.
pub struct DomainDataKeys {
    tenant: Arc<TenantKeys>,
    domain_id: u64,
    derived: HashMap<KeyVersion, Option<DataKey>>,
}

impl DomainDataKeys {
    /// The key of `version`; `None` when its material is gone (retired or destroyed).
    pub fn get(&mut self, version: KeyVersion) -> VaultResult<Option<&DataKey>> {
        if !self.derived.contains_key(&version) {
            let key = match self.tenant.data_key(self.domain_id, version) {
                Ok(k) => Some(k),
                Err(valv_kms::KmsError::UnknownVersion(_)) => None,
                Err(e) => return Err(e.into()),
            };
            self.derived.insert(version, key);
        }
        Ok(self.derived.get(&version).and_then(Option::as_ref))
    }

    /// Decrypts a mapping's identifier; `None` when its key version's material is gone (or the
    /// mapping holds no ciphertext: a one-way domain). A ciphertext that does not open with the
    /// row's pseudonym and governing fields (subject, epoch, expiry; see
    /// [`crate::engine::mapping_bound`]) was moved or changed in the store:
    /// [`VaultError::Tampered`], never a release.
    pub fn open(
        &mut self,
        pseudonym: &[u8],
        record: &MappingRecord,
    ) -> VaultResult<Option<valv_kms::SecretBytes>> {
        let Some(ciphertext) = &record.ciphertext else {
            return Ok(None);
        };
        let version = valv_kms::envelope::ciphertext_version(ciphertext)?;
        let layout = valv_kms::envelope::bound_layout(ciphertext)?;
        let (tenant_id, domain_id) = (self.tenant.tenant_id(), self.domain_id);
        let Some(key) = self.get(version)? else {
            return Ok(None);
        };
        let bound = mapping_bound::in_layout(layout, record.into());
        let context = valv_kms::AadContext {
            tenant_id,
            domain_id,
            record: pseudonym,
            bound: bound.as_slice(),
        };
        match key.open(&context, ciphertext) {
            Ok(plain) => Ok(Some(plain)),
            Err(valv_kms::KmsError::Decrypt) => Err(VaultError::Tampered(
                "mapping: its stored row failed its integrity check (changed outside the vault); nothing was released".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// Encrypts a mapping's identifier under `key`, bound to the pseudonym and to the governing
/// fields its row will be stored with (the current layout of [`crate::engine::mapping_bound`]).
pub fn seal_mapping(
    key: &DataKey,
    (tenant_id, domain_id): (u64, u64),
    pseudonym: &[u8],
    row: mapping_bound::Governing<'_>,
    identifier: &[u8],
) -> VaultResult<Vec<u8>> {
    let bound = mapping_bound::current(row);
    let context = valv_kms::AadContext {
        tenant_id,
        domain_id,
        record: pseudonym,
        bound: bound.as_slice(),
    };
    Ok(key.seal(&context, identifier)?)
}

/// A cached value and the tenant change counter it was loaded under.
type Stamped<T> = (u64, T);

/// Prepared domain keys by (domain, epoch), with their tenant and stamp.
type DomainCache = HashMap<(u64, u32), (u64, Stamped<Arc<DomainKeys>>)>;

/// The root key in use and the slot it came from.
/// A key ring being changed: the unwrapped keys (used through `Deref`) and the stored form the
/// change must still find when it is installed.
pub struct KeyRingEdit {
    keys: TenantKeys,
    read: valv_kms::WrappedTenantKeys,
}

impl std::ops::Deref for KeyRingEdit {
    type Target = TenantKeys;
    fn deref(&self) -> &TenantKeys {
        &self.keys
    }
}

impl std::ops::DerefMut for KeyRingEdit {
    fn deref_mut(&mut self) -> &mut TenantKeys {
        &mut self.keys
    }
}

type RootInUse = (Arc<dyn RootKeyProvider>, Option<Arc<dyn RootKeySlot>>);

/// The key cache of a running vault.
pub struct KeyCache {
    store: Arc<dyn Store>,
    key_use_budget: u64,
    generations: Arc<Generations>,
    /// The root key in use and the slot it came from (both replaced by a root-key rotation;
    /// [`SealedRoot`] and no slot while sealed).
    root: RwLock<RootInUse>,
    /// Held shared while a key ring is wrapped and stored, exclusively while the root key is
    /// replaced, so no key ring is wrapped under a root key on its way out.
    root_change: tokio::sync::RwLock<()>,
    /// Unwrapped key rings, stamped with the tenant generation they were loaded under.
    tenants: RwLock<HashMap<u64, Stamped<Arc<TenantKeys>>>>,
    /// Prepared domain keys by (domain, epoch), with their tenant and stamp.
    domains: RwLock<DomainCache>,
    /// Per tenant: data writers and readers hold it shared; a key-ring change holds it
    /// exclusively, so no request of this process straddles two key rings.
    gates: std::sync::Mutex<HashMap<u64, Arc<tokio::sync::RwLock<()>>>>,
    usage: tokio::sync::Mutex<HashMap<(u64, u32), KeyUse>>,
    shredded: RwLock<HashSet<u64>>,
}

fn poisoned<T>(_: T) -> VaultError {
    VaultError::Internal("key cache lock poisoned".into())
}

impl KeyCache {
    /// A cache over `store` with `root` in use (see [`KeyCache::set_root`]).
    pub(crate) fn new(
        store: Arc<dyn Store>,
        root: RootInUse,
        key_use_budget: u64,
        generations: Arc<Generations>,
    ) -> Self {
        Self {
            store,
            key_use_budget,
            generations,
            root: RwLock::new(root),
            root_change: tokio::sync::RwLock::new(()),
            tenants: RwLock::new(HashMap::new()),
            domains: RwLock::new(HashMap::new()),
            gates: std::sync::Mutex::new(HashMap::new()),
            usage: tokio::sync::Mutex::new(HashMap::new()),
            shredded: RwLock::new(HashSet::new()),
        }
    }

    fn stamp(&self, tenant_id: u64) -> u64 {
        self.generations.current(tenant_id)
    }

    /// Waits until no key ring is being wrapped, and keeps new ones from being wrapped until the
    /// guard is dropped: hold it while the root key is replaced.
    pub async fn root_change(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.root_change.write().await
    }

    /// Keeps the root key from being replaced while the guard lives (wrapping a key ring).
    pub async fn root_in_use(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.root_change.read().await
    }

    /// The loaded key rings (for the key-age gauges).
    pub(crate) fn loaded(&self) -> Vec<Arc<TenantKeys>> {
        match self.tenants.read() {
            Ok(t) => t.values().map(|(_, k)| Arc::clone(k)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether a tenant's key ring was destroyed (every call for it is refused).
    pub fn is_shredded(&self, tenant_id: u64) -> bool {
        self.shredded
            .read()
            .map(|s| s.contains(&tenant_id))
            .unwrap_or(true)
    }

    /// Marks a tenant shredded and forgets its unwrapped keys.
    pub fn mark_shredded(&self, tenant_id: u64) -> VaultResult<()> {
        self.shredded.write().map_err(poisoned)?.insert(tenant_id);
        self.tenants.write().map_err(poisoned)?.remove(&tenant_id);
        self.domains.write().map_err(poisoned)?.clear();
        Ok(())
    }

    /// The current root key provider.
    pub fn root(&self) -> Arc<dyn RootKeyProvider> {
        match self.root.read() {
            Ok(r) => Arc::clone(&r.0),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().0),
        }
    }

    /// Where the root key lives (`None` while sealed).
    pub fn root_slot(&self) -> Option<Arc<dyn RootKeySlot>> {
        match self.root.read() {
            Ok(r) => r.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Replaces the root key (after a rotation or an unseal) and the slot it came from.
    pub fn set_root(&self, provider: Arc<dyn RootKeyProvider>, slot: Option<Arc<dyn RootKeySlot>>) {
        match self.root.write() {
            Ok(mut r) => *r = (provider, slot),
            Err(poisoned) => *poisoned.into_inner() = (provider, slot),
        }
    }

    /// Forgets every unwrapped key and prepared domain key (sealing). Keys still held by calls
    /// in flight are wiped when those calls end (every key type zeroizes on drop).
    pub fn forget(&self) -> VaultResult<()> {
        self.tenants.write().map_err(poisoned)?.clear();
        self.domains.write().map_err(poisoned)?.clear();
        self.set_root(Arc::new(SealedRoot), None);
        Ok(())
    }

    /// The key-ring gate of a tenant (see the field).
    pub fn gate(&self, tenant_id: u64) -> Arc<tokio::sync::RwLock<()>> {
        match self.gates.lock() {
            Ok(mut g) => Arc::clone(g.entry(tenant_id).or_default()),
            // A poisoned map still hands out a working (if fresh) gate.
            Err(_) => Arc::new(tokio::sync::RwLock::new(())),
        }
    }

    /// Counts `n` encryptions under `version`; false (and nothing counted) when that would pass
    /// the use budget. This process draws encryptions from a block it reserved in the store
    /// ([`KeyStore::reserve_key_usage`](crate::store::KeyStore::reserve_key_usage), atomic across
    /// processes), so the stored total is an upper bound of every process's use together: after a
    /// crash, or with several nodes, the count can only be too high, never too low.
    pub async fn reserve_encryptions(
        &self,
        tenant_id: u64,
        version: KeyVersion,
        n: u64,
    ) -> VaultResult<bool> {
        let budget = self.key_use_budget;
        let mut usage = self.usage.lock().await;
        let allotment = usage.entry((tenant_id, version)).or_default();
        if allotment.end - allotment.next >= n {
            allotment.next += n;
            return Ok(true);
        }
        // What is left of the old block is given up (counted, never used): over-counting only.
        let block = (budget / 64).clamp(1, 1_000_000).max(n);
        let mut granted = self
            .store
            .reserve_key_usage(tenant_id, version, block, budget)
            .await?
            .map(|total| (total, block));
        if granted.is_none() && block > n {
            granted = self
                .store
                .reserve_key_usage(tenant_id, version, n, budget)
                .await?
                .map(|total| (total, n));
        }
        let Some((total, size)) = granted else {
            return Ok(false);
        };
        *allotment = KeyUse {
            next: total - size + n,
            end: total,
        };
        Ok(true)
    }

    /// Encryptions counted under a version: what every process reserved in the store, less the
    /// part of this process's own block it has not used yet. Exact with one process; with
    /// several, other processes' unused blocks still count (an upper bound, never too low).
    pub async fn encryptions(&self, tenant_id: u64, version: KeyVersion) -> VaultResult<u64> {
        let reserved = self
            .store
            .key_usage(tenant_id)
            .await?
            .into_iter()
            .find(|(v, _)| *v == version)
            .map_or(0, |(_, r)| r);
        let unused = self
            .usage
            .lock()
            .await
            .get(&(tenant_id, version))
            .map_or(0, |u| u.end - u.next);
        Ok(reserved.saturating_sub(unused))
    }

    /// Stores a changed key ring durably and serves it from now on — only if the stored ring is
    /// still the one [`KeyCache::load_tenant_keys`] read: `Aborted` (nothing changed) when
    /// another node changed it meanwhile. Call with the tenant's gate held exclusively (that
    /// orders changes in this process; the compare-and-swap orders them across processes).
    pub async fn install_tenant_keys(&self, edit: KeyRingEdit) -> VaultResult<()> {
        let KeyRingEdit { keys, read } = edit;
        let tenant_id = keys.tenant_id();
        let _root = self.root_in_use().await;
        let wrapped = tracing::debug_span!(target: "valv::keys", "keys.wrap_ring")
            .in_scope(|| keys.wrap(self.root().as_ref()))?;
        if !self.store.replace_tenant_keys(&read, &wrapped).await? {
            return Err(VaultError::Aborted(
                "the key ring was changed by another node meanwhile; nothing was changed, try again"
                    .into(),
            ));
        }
        self.store.sync().await.map_err(|e| {
            VaultError::Unavailable(format!("key ring could not be made durable: {e}"))
        })?;
        let stamp = self.stamp(tenant_id);
        self.tenants
            .write()
            .map_err(poisoned)?
            .insert(tenant_id, (stamp, Arc::new(keys)));
        // Prepared domain keys hold the previous active version: drop them all (rare event).
        self.domains.write().map_err(poisoned)?.clear();
        Ok(())
    }

    /// A fresh, mutable copy of a tenant's key ring from the store, to change and install.
    pub async fn load_tenant_keys(&self, tenant_id: u64) -> VaultResult<KeyRingEdit> {
        let read = self
            .store
            .tenant_keys(tenant_id)
            .await?
            .ok_or_else(|| VaultError::FailedPrecondition("tenant has no key ring".into()))?;
        Ok(KeyRingEdit {
            keys: self.unwrap_ring(&read)?,
            read,
        })
    }

    /// Unwraps a stored key ring with the root key in use. A ring wrapped by another root key
    /// means another node rotated the root key: this node looks at its root-key slot again and
    /// takes the key there into use if it is the one (an HSM token shared by the nodes holds
    /// it at once; a key file or a seal file once the operator copied the new one here).
    /// Otherwise the error names both keys and what to do; nothing is unwrapped.
    fn unwrap_ring(&self, wrapped: &WrappedTenantKeys) -> VaultResult<TenantKeys> {
        // The root provider's part (an HSM's round trip, with a PKCS#11 root key).
        let _span = tracing::debug_span!(target: "valv::keys", "keys.unwrap_ring").entered();
        let root = self.root();
        let wanted = &wrapped.subject.root_key_id;
        let slot = self.root_slot();
        // Sealed (no slot): the provider's own error says so.
        if *wanted == root.root_key_id() || slot.is_none() {
            return Ok(TenantKeys::unwrap(wrapped, root.as_ref())?);
        }
        let reloaded = slot.as_ref().and_then(|s| s.current().ok());
        match reloaded {
            Some(current) if current.root_key_id() == *wanted => {
                tracing::warn!(
                    root_key_id = %wanted,
                    replaced = %root.root_key_id(),
                    "the key rings are under a new root key (rotated through another node); this node uses it from now on"
                );
                let keys = TenantKeys::unwrap(wrapped, current.as_ref())?;
                self.set_root(current, slot);
                Ok(keys)
            }
            _ => Err(VaultError::FailedPrecondition(format!(
                "the key rings are wrapped by root key {wanted}, but this node holds root key {}: another node rotated the root key. Copy the key file or the seal file of the node that rotated it into this node's data directory (a shared HSM token holds the new key already; after a rotation with new shares, restart this node and unseal it with them): it is taken into use on the next call",
                root.root_key_id()
            ))),
        }
    }

    /// The unwrapped keys of a tenant (cached after the first unwrap).
    pub async fn tenant_keys(&self, tenant_id: u64) -> VaultResult<Arc<TenantKeys>> {
        let stamp = self.stamp(tenant_id);
        if let Some((s, k)) = self.tenants.read().map_err(poisoned)?.get(&tenant_id)
            && *s == stamp
        {
            return Ok(Arc::clone(k));
        }
        let wrapped = self
            .store
            .tenant_keys(tenant_id)
            .await?
            .ok_or_else(|| VaultError::FailedPrecondition("tenant has no key ring".into()))?;
        let keys = Arc::new(self.unwrap_ring(&wrapped)?);
        self.tenants
            .write()
            .map_err(poisoned)?
            .insert(tenant_id, (stamp, Arc::clone(&keys)));
        Ok(keys)
    }

    /// Prepared keys of a domain in its current epoch.
    pub async fn domain_keys(&self, domain: &DomainRecord) -> VaultResult<Arc<DomainKeys>> {
        let cache_key = (domain.id, domain.epoch);
        let stamp = self.stamp(domain.tenant_id);
        if let Some((_, (s, k))) = self.domains.read().map_err(poisoned)?.get(&cache_key)
            && *s == stamp
        {
            return Ok(Arc::clone(k));
        }
        let tenant = self.tenant_keys(domain.tenant_id).await?;
        let _span = tracing::debug_span!(target: "valv::keys", "keys.derive_domain").entered();
        let purpose = match domain.scheme {
            Scheme::Keyed => DerivedKeyPurpose::PseudonymMac,
            Scheme::Random => DerivedKeyPurpose::BlindIndex,
            Scheme::FormatPreserving => DerivedKeyPurpose::FormatPreserving,
        };
        let key = tenant.pseudonym_key(purpose, domain.id, domain.epoch)?;
        let unfit = |_| {
            VaultError::FailedPrecondition(format!(
                "domain {}: the {} scheme is not offered for {}",
                domain.name,
                domain.scheme.as_str(),
                domain.kind.as_str()
            ))
        };
        let mut pseudonym = PseudonymKey::new(domain.scheme, domain.kind, &key).map_err(unfit)?;
        if domain.scheme == Scheme::FormatPreserving {
            pseudonym = pseudonym
                .with_serials(domain.kind, &tenant.serial_order_key(domain.id))
                .map_err(unfit)?;
        }
        let version = tenant.active_version().ok_or_else(|| {
            VaultError::FailedPrecondition("tenant has no active key version".into())
        })?;
        let keys = Arc::new(DomainKeys {
            pseudonym,
            subject: SubjectHasher::new(&tenant.subject_key()),
            data_key: tenant.data_key(domain.id, version)?,
        });
        self.domains
            .write()
            .map_err(poisoned)?
            .insert(cache_key, (domain.tenant_id, (stamp, Arc::clone(&keys))));
        Ok(keys)
    }

    /// The data keys of a domain by version, for one batch or page (each version derived once).
    pub async fn domain_data_keys(&self, domain: &DomainRecord) -> VaultResult<DomainDataKeys> {
        let active = self.domain_keys(domain).await?.data_key.clone();
        Ok(DomainDataKeys {
            tenant: self.tenant_keys(domain.tenant_id).await?,
            domain_id: domain.id,
            derived: HashMap::from([(active.version(), Some(active))]),
        })
    }

    /// The subject hasher of a tenant.
    pub async fn subject_hasher(&self, tenant_id: u64) -> VaultResult<SubjectHasher> {
        Ok(SubjectHasher::new(
            &self.tenant_keys(tenant_id).await?.subject_key(),
        ))
    }
}
