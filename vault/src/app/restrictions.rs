//! The restriction view: which subjects of a tenant have their processing restricted (GDPR Art.
//! 18), cached per tenant for the re-identification hot path — and which were erased (GDPR Art.
//! 17), with their tombstones' tweaks, for the pseudonymise hot path.
//!
//! Invalidation: entries are stamped like the key cache's ([`Generations`]); restrictions and
//! erasures raise the tenant's change counter in the store, so another process's change is seen
//! on the next request. A change in this process goes through [`Restrictions::begin_change`],
//! which serialises it with loads so that a load that read the store before the change cannot
//! install its stale set after it.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use super::generations::Generations;
use crate::{
    engine::subject::{Erased, SubjectHandle},
    error::{VaultError, VaultResult},
    store::Store,
};

/// The restricted subjects of a tenant.
pub type RestrictedSet = HashSet<SubjectHandle>;

/// The restriction view of a running vault.
pub struct Restrictions {
    store: Arc<dyn Store>,
    generations: Arc<Generations>,
    restricted: RwLock<HashMap<u64, (u64, Arc<RestrictedSet>)>>,
    erased: RwLock<HashMap<u64, (u64, Arc<Erased>)>>,
    change: tokio::sync::Mutex<()>,
}

/// A restriction change in progress (see [`Restrictions::begin_change`]).
pub struct RestrictionChange<'a> {
    view: &'a Restrictions,
    _held: tokio::sync::MutexGuard<'a, ()>,
}

impl RestrictionChange<'_> {
    /// The change is stored: forget the tenant's cached set.
    pub fn done(self, tenant_id: u64) -> VaultResult<()> {
        self.view
            .restricted
            .write()
            .map_err(poisoned)?
            .remove(&tenant_id);
        self.view
            .erased
            .write()
            .map_err(poisoned)?
            .remove(&tenant_id);
        Ok(())
    }
}

fn poisoned<T>(_: T) -> VaultError {
    VaultError::Internal("restriction cache lock poisoned".into())
}

impl Restrictions {
    /// An empty view over `store`.
    pub(crate) fn new(store: Arc<dyn Store>, generations: Arc<Generations>) -> Self {
        Self {
            store,
            generations,
            restricted: RwLock::new(HashMap::new()),
            erased: RwLock::new(HashMap::new()),
            change: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts changing a tenant's restrictions: store the change, then call
    /// [`RestrictionChange::done`].
    pub async fn begin_change(&self) -> RestrictionChange<'_> {
        RestrictionChange {
            view: self,
            _held: self.change.lock().await,
        }
    }

    /// The subjects of a tenant whose processing is restricted (loaded once, then kept in step
    /// by [`Restrictions::begin_change`]).
    pub async fn subjects(&self, tenant_id: u64) -> VaultResult<Arc<RestrictedSet>> {
        let stamp = self.generations.current(tenant_id);
        let cached = |app: &Self| -> VaultResult<Option<Arc<_>>> {
            Ok(app
                .restricted
                .read()
                .map_err(poisoned)?
                .get(&tenant_id)
                .filter(|(s, _)| *s == stamp)
                .map(|(_, set)| Arc::clone(set)))
        };
        if let Some(set) = cached(self)? {
            return Ok(set);
        }
        let _loading = self.change.lock().await;
        if let Some(set) = cached(self)? {
            return Ok(set);
        }
        let set: std::collections::HashSet<_> = self
            .store
            .restrictions(tenant_id)
            .await?
            .iter()
            .filter_map(|r| hex::decode(&r.subject).ok()?.try_into().ok())
            .collect();
        let set = Arc::new(set);
        self.restricted
            .write()
            .map_err(poisoned)?
            .insert(tenant_id, (stamp, Arc::clone(&set)));
        Ok(set)
    }

    /// The erased subjects of a tenant and their tombstones' tweaks (loaded once, then kept in
    /// step like the restrictions).
    pub async fn erased(&self, tenant_id: u64) -> VaultResult<Arc<Erased>> {
        let stamp = self.generations.current(tenant_id);
        let cached = |view: &Self| -> VaultResult<Option<Arc<Erased>>> {
            Ok(view
                .erased
                .read()
                .map_err(poisoned)?
                .get(&tenant_id)
                .filter(|(s, _)| *s == stamp)
                .map(|(_, map)| Arc::clone(map)))
        };
        if let Some(map) = cached(self)? {
            return Ok(map);
        }
        let _loading = self.change.lock().await;
        if let Some(map) = cached(self)? {
            return Ok(map);
        }
        let map: Erased = self
            .store
            .tombstones(tenant_id)
            .await?
            .iter()
            .filter_map(|t| {
                let subject: SubjectHandle = hex::decode(&t.subject).ok()?.try_into().ok()?;
                let tweak = hex::decode(&t.tweak)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or_default();
                Some((subject, tweak))
            })
            .collect();
        let map = Arc::new(map);
        self.erased
            .write()
            .map_err(poisoned)?
            .insert(tenant_id, (stamp, Arc::clone(&map)));
        Ok(map)
    }
}
