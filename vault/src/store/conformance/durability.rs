//! Cases of the durability calls.

use std::sync::Arc;

use crate::store::Store;

/// Sync, sync-all, a compaction request and the size answer on any store.
pub(crate) async fn sync_compaction_and_size_answer(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = super::fixture::tenant(store, "durable").await;
    store
        .append_audit_lazy(t.id, vec![crate::audit::entry(1, "p", "x")])
        .await
        .unwrap();
    store.sync().await.unwrap();
    store.sync_all().await.unwrap();
    store.request_compaction().await.unwrap();
    store.size_on_disk().await.unwrap();
}
