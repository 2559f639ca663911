//! Restrictions and tombstones in use: sealed with the tenant's row-integrity key when written
//! and checked when read (`app::rows`), so a restriction or a tombstone forged in the store is
//! refused rather than used. The hot paths read them through the cached views of
//! `app::restrictions`, which load checked rows only.
//!
//! What a MAC cannot see: a row deleted in the store (a restriction lifted, a tombstone
//! removed) leaves nothing to check. Both acts are in the audit chain (`subject.restrict`,
//! `subject.erase`), which the witness keeps outside the vault.

use std::sync::Arc;

use super::{App, restrictions::RestrictedSet};
use crate::{
    engine::subject::Erased,
    error::VaultResult,
    store::records::{RestrictionRecord, TombstoneRecord},
};

impl App {
    /// The restricted subjects of a tenant (cached view of checked rows).
    pub async fn restricted(&self, tenant_id: u64) -> VaultResult<Arc<RestrictedSet>> {
        self.restrictions
            .subjects(tenant_id, || self.restrictions_of(tenant_id))
            .await
    }

    /// The erased subjects of a tenant with their tweaks (cached view of checked rows).
    pub async fn erased(&self, tenant_id: u64) -> VaultResult<Arc<Erased>> {
        self.restrictions
            .erased(tenant_id, || self.tombstones(tenant_id))
            .await
    }

    /// Every restriction of a tenant, checked.
    pub async fn restrictions_of(&self, tenant_id: u64) -> VaultResult<Vec<RestrictionRecord>> {
        let list = self.store.restrictions(tenant_id).await?;
        self.all_verified_in(tenant_id, list).await
    }

    /// Every tombstone of a tenant, checked.
    pub async fn tombstones(&self, tenant_id: u64) -> VaultResult<Vec<TombstoneRecord>> {
        let list = self.store.tombstones(tenant_id).await?;
        self.all_verified_in(tenant_id, list).await
    }

    /// A subject's tombstone, checked.
    pub async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> VaultResult<Option<TombstoneRecord>> {
        match self.store.tombstone(tenant_id, subject_hex).await? {
            Some(t) => Ok(Some(self.verified_in(tenant_id, t).await?)),
            None => Ok(None),
        }
    }

    /// Stores a restriction, sealed.
    pub async fn put_restriction(
        &self,
        tenant_id: u64,
        restriction: &RestrictionRecord,
    ) -> VaultResult<()> {
        let mut r = restriction.clone();
        self.seal_in(tenant_id, &mut r).await?;
        Ok(self.store.put_restriction(tenant_id, &r).await?)
    }

    /// Seals the restrictions and tombstones of a tenant written before they carried a MAC;
    /// returns how many. Run once per store, at the first start of this version.
    pub async fn seal_subject_rows_of_earlier_versions(&self, tenant_id: u64) -> VaultResult<u64> {
        let mut sealed = 0;
        for r in self.store.restrictions(tenant_id).await? {
            if r.mac.is_empty() {
                self.put_restriction(tenant_id, &r).await?;
                sealed += 1;
            }
        }
        for mut t in self.store.tombstones(tenant_id).await? {
            if t.mac.is_empty() {
                self.seal_in(tenant_id, &mut t).await?;
                self.store.put_tombstone(tenant_id, &t).await?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }
}
