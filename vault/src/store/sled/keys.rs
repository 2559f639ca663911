//! sled: the key family (wrapped key rings and use reservations in the `meta` tree).

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{SledStore, backend, to_json};
use crate::store::{KeyStore, StoreError, StoreResult, records::TenantRecord};

fn usage_key(tenant_id: u64, version: u32) -> String {
    format!("usage/{tenant_id}/{version:010}")
}

#[async_trait]
impl KeyStore for SledStore {
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>> {
        self.get_json(&format!("keys/{tenant_id}"))
    }

    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()> {
        self.put_json(&format!("keys/{}", keys.tenant_id), keys)?;
        self.bump(keys.tenant_id)
    }

    async fn replace_tenant_keys(
        &self,
        current: &WrappedTenantKeys,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<bool> {
        let t = self.trees()?;
        let key = format!("keys/{}", keys.tenant_id);
        let Some(stored) = t.meta.get(&key).map_err(backend)? else {
            return Ok(false);
        };
        let decoded: WrappedTenantKeys =
            serde_json::from_slice(&stored).map_err(|_| StoreError::Corrupt("key ring"))?;
        if &decoded != current {
            return Ok(false);
        }
        let swapped = t
            .meta
            .compare_and_swap(&key, Some(stored), Some(to_json(keys)?))
            .map_err(backend)?;
        if swapped.is_err() {
            return Ok(false);
        }
        t.commit.wrote();
        self.bump(keys.tenant_id)?;
        Ok(true)
    }

    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>> {
        let mut all: Vec<WrappedTenantKeys> = self.scan_json("keys/")?;
        all.sort_by_key(|k| k.tenant_id);
        Ok(all)
    }

    async fn shred_tenant(&self, tenant_id: u64, at_ms: i64) -> StoreResult<bool> {
        let t = self.trees()?;
        let Some(mut tenant) = self.get_json::<TenantRecord>(&format!("tenant/{tenant_id}"))?
        else {
            return Ok(false);
        };
        tenant.shredded_ms = at_ms;
        let mut batch = sled::Batch::default();
        batch.insert(format!("tenant/{tenant_id}").as_bytes(), to_json(&tenant)?);
        batch.remove(format!("keys/{tenant_id}").as_bytes());
        t.meta.apply_batch(batch).map_err(backend)?;
        t.commit.wrote();
        self.bump(tenant_id)?;
        Ok(true)
    }

    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>> {
        self.scan_json(&format!("usage/{tenant_id}/"))
    }

    async fn reserve_key_usage(
        &self,
        tenant_id: u64,
        version: u32,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        let written = self.update_json::<(u32, u64), _>(&usage_key(tenant_id, version), |old| {
            let reserved = old.map_or(0, |(_, r)| r);
            let total = reserved.checked_add(n)?;
            (total <= limit).then_some((version, total))
        })?;
        Ok(written.map(|(_, total)| total))
    }

    async fn reserve_budget(
        &self,
        scope: &str,
        window: i64,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        let written = self.update_json::<(i64, u64), _>(&format!("budget/{scope}"), |old| {
            crate::store::keys::next_budget(old, window, n, limit)
        })?;
        Ok(written.map(|(_, used)| used))
    }

    async fn budgets(&self, prefix: &str) -> StoreResult<Vec<(String, i64, u64)>> {
        let t = self.trees()?;
        t.meta
            .scan_prefix(format!("budget/{prefix}"))
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                let key = std::str::from_utf8(&k).map_err(|_| StoreError::Corrupt("budget"))?;
                let (win, used): (i64, u64) =
                    serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("budget"))?;
                Ok((key.trim_start_matches("budget/").to_owned(), win, used))
            })
            .collect()
    }
}
