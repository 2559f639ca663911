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
    store::records::{RestrictionRecord, TombstoneRecord},
};

/// The restricted subjects of a tenant.
pub type RestrictedSet = HashSet<SubjectHandle>;

/// The restriction view of a running vault.
pub struct Restrictions {
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
    /// An empty view.
    pub(crate) fn new(generations: Arc<Generations>) -> Self {
        Self {
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

    /// The subjects of a tenant whose processing is restricted (`load`ed once — checked rows,
    /// see `App::restricted` — then kept in step by [`Restrictions::begin_change`]).
    pub async fn subjects<F, Fut>(&self, tenant_id: u64, load: F) -> VaultResult<Arc<RestrictedSet>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = VaultResult<Vec<RestrictionRecord>>>,
    {
        self.view(&self.restricted, tenant_id, || async {
            Ok(load()
                .await?
                .iter()
                .filter_map(|r| hex::decode(&r.subject).ok()?.try_into().ok())
                .collect())
        })
        .await
    }

    /// The erased subjects of a tenant and their tombstones' tweaks (`load`ed once, then kept
    /// in step like the restrictions).
    pub async fn erased<F, Fut>(&self, tenant_id: u64, load: F) -> VaultResult<Arc<Erased>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = VaultResult<Vec<TombstoneRecord>>>,
    {
        self.view(&self.erased, tenant_id, || async {
            Ok(load()
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
                .collect())
        })
        .await
    }

    /// The tenant's entry of `cache` if its stamp is current, else `load`ed under the change
    /// lock (so a load cannot install a set older than a change made meanwhile).
    async fn view<T, F, Fut>(
        &self,
        cache: &RwLock<HashMap<u64, (u64, Arc<T>)>>,
        tenant_id: u64,
        load: F,
    ) -> VaultResult<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = VaultResult<T>>,
    {
        let stamp = self.generations.current(tenant_id);
        let cached = || -> VaultResult<Option<Arc<T>>> {
            Ok(cache
                .read()
                .map_err(poisoned)?
                .get(&tenant_id)
                .filter(|(s, _)| *s == stamp)
                .map(|(_, v)| Arc::clone(v)))
        };
        if let Some(v) = cached()? {
            return Ok(v);
        }
        let _loading = self.change.lock().await;
        if let Some(v) = cached()? {
            return Ok(v);
        }
        let v = Arc::new(load().await?);
        cache
            .write()
            .map_err(poisoned)?
            .insert(tenant_id, (stamp, Arc::clone(&v)));
        Ok(v)
    }
}
