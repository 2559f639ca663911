//! The key family: wrapped key rings, key-use reservations, and shredding.

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::StoreResult;

/// Wrapped key rings (never an unwrapped key) and their use counts.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// A tenant's wrapped keys (the operator chain's under id 0).
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>>;
    /// Stores (or replaces) a wrapped key ring; raises the tenant's change counter.
    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()>;
    /// Replaces a tenant's key ring only if the stored ring is still exactly `current` (as read
    /// before the change), atomically, raising the change counter: false, nothing written, when
    /// another process changed it first. Every change of a live key ring goes through this, so
    /// two nodes can never both add a version (one of them would be lost, and with it every
    /// record it sealed).
    async fn replace_tenant_keys(
        &self,
        current: &WrappedTenantKeys,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<bool>;
    /// Every stored key ring (all tenants and the operator chain's), by tenant id.
    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>>;
    /// Shreds a tenant as one unit of work: its record is marked shredded at `at_ms` and its key
    /// ring deleted, both or neither; raises the tenant's change counter. False when there is no
    /// such tenant (nothing written).
    async fn shred_tenant(&self, tenant_id: u64, at_ms: i64) -> StoreResult<bool>;

    /// Encryptions reserved per key version of a tenant (a durable upper bound of the use
    /// count), by version.
    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>>;
    /// Atomically adds `n` to the reservation of one key version if the total stays within
    /// `limit`: the new total, or `None` (nothing added) when it would pass the limit. Two
    /// processes reserving at once both get disjoint ranges, and never more than `limit` in all.
    async fn reserve_key_usage(
        &self,
        tenant_id: u64,
        version: u32,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>>;

    /// Atomically adds `n` to what `scope` used in `window` if the total stays within `limit`:
    /// the new total, or `None` (nothing added). A window newer than the stored one starts from
    /// zero; an older one counts into the stored window (a node whose clock is behind can only
    /// use the current budget). Two processes reserving at once never pass `limit` together.
    /// Principal quotas use it (scope `new-identifiers/<principal id>`, window = the hour).
    async fn reserve_budget(
        &self,
        scope: &str,
        window: i64,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>>;
    /// Every budget whose scope starts with `prefix`: (scope, window, used), by scope. The
    /// format-preserving serial counters (`serials/<domain id>`) are budgets that a migration
    /// must carry over.
    async fn budgets(&self, prefix: &str) -> StoreResult<Vec<(String, i64, u64)>>;
}

/// [`KeyStore::reserve_budget`]'s rule on one stored `(window, used)`: the row to store.
pub(crate) fn next_budget(
    stored: Option<(i64, u64)>,
    window: i64,
    n: u64,
    limit: u64,
) -> Option<(i64, u64)> {
    let (win, used) = match stored {
        Some((w, used)) if w >= window => (w, used),
        _ => (window, 0),
    };
    let total = used.checked_add(n)?;
    (total <= limit).then_some((win, total))
}
