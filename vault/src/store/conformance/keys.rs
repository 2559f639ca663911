//! Cases of the key family.

use std::sync::Arc;

use super::fixture::{keys, tag, tenant};
use crate::store::Store;

/// Key rings are stored, replaced and listed by tenant id; each change raises the generation.
pub(crate) async fn key_rings_round_trip(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let before = store.tenant_generation(t.id).await.unwrap();
    store.put_tenant_keys(&keys(t.id, "r2")).await.unwrap();
    assert_eq!(
        tag(store.tenant_keys(t.id).await.unwrap()),
        Some((t.id, "r2".into()))
    );
    assert!(store.tenant_generation(t.id).await.unwrap() > before);
    // The operator chain's ring has no tenant record.
    store.put_tenant_keys(&keys(0, "op")).await.unwrap();
    let all: Vec<(u64, String)> = store
        .all_tenant_keys()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|k| tag(Some(k)))
        .collect();
    assert_eq!(all, vec![(0, "op".into()), (t.id, "r2".into())]);
}

/// A key ring is replaced only while it is still the one the writer read; of two writers that
/// read the same ring, exactly one wins, and only a win raises the generation.
pub(crate) async fn replacing_a_key_ring_is_compare_and_swap(shared: Arc<dyn Store>) {
    let t = tenant(shared.as_ref(), "acme").await;
    let read = shared.tenant_keys(t.id).await.unwrap().unwrap();
    let mut racers = Vec::new();
    for i in 0..8 {
        let (store, read) = (Arc::clone(&shared), read.clone());
        racers.push(tokio::spawn(async move {
            store
                .replace_tenant_keys(&read, &keys(t.id, &format!("w{i}")))
                .await
                .unwrap()
        }));
    }
    let mut won = Vec::new();
    for (i, r) in racers.into_iter().enumerate() {
        if r.await.unwrap() {
            won.push(format!("w{i}"));
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins: {won:?}");
    assert_eq!(
        tag(shared.tenant_keys(t.id).await.unwrap()),
        Some((t.id, won[0].clone()))
    );
    let generation = shared.tenant_generation(t.id).await.unwrap();
    // A writer holding the old ring loses and changes nothing.
    assert!(
        !shared
            .replace_tenant_keys(&read, &keys(t.id, "late"))
            .await
            .unwrap()
    );
    assert_eq!(shared.tenant_generation(t.id).await.unwrap(), generation);
    // No ring, no replacement.
    assert!(
        !shared
            .replace_tenant_keys(&keys(999, "x"), &keys(999, "y"))
            .await
            .unwrap()
    );
}

/// Shredding marks the tenant and deletes its key ring together; an unknown tenant is left.
pub(crate) async fn shredding_is_one_unit_of_work(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let kept = tenant(store, "kept").await;
    let before = store.tenant_generation(t.id).await.unwrap();
    assert!(store.shred_tenant(t.id, 4242).await.unwrap());
    assert_eq!(store.tenant(t.id).await.unwrap().unwrap().shredded_ms, 4242);
    assert!(store.tenant_keys(t.id).await.unwrap().is_none());
    assert!(store.tenant_generation(t.id).await.unwrap() > before);
    assert_eq!(store.tenant(kept.id).await.unwrap().unwrap().shredded_ms, 0);
    assert!(store.tenant_keys(kept.id).await.unwrap().is_some());
    assert!(!store.shred_tenant(9_999_999, 1).await.unwrap());
    assert!(store.tenant(9_999_999).await.unwrap().is_none());
}

/// Reservations add up per version and stop at the limit without adding anything.
pub(crate) async fn reservations_add_within_the_limit(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    assert_eq!(
        store.reserve_key_usage(t.id, 1, 60, 100).await.unwrap(),
        Some(60)
    );
    assert_eq!(
        store.reserve_key_usage(t.id, 1, 40, 100).await.unwrap(),
        Some(100)
    );
    assert_eq!(
        store.reserve_key_usage(t.id, 1, 1, 100).await.unwrap(),
        None
    );
    assert_eq!(
        store.reserve_key_usage(t.id, 2, 5, 100).await.unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .reserve_key_usage(t.id, 2, u64::MAX, u64::MAX)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.key_usage(t.id).await.unwrap(), vec![(1, 100), (2, 5)]);
    assert!(store.key_usage(t.id + 1).await.unwrap().is_empty());
}

/// Four tasks reserve at once, 50 times each: every granted total, sorted.
async fn race<F, Fut>(shared: &Arc<dyn Store>, reserve: F) -> Vec<u64>
where
    F: Fn(Arc<dyn Store>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Option<u64>> + Send,
{
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let shared = Arc::clone(shared);
            let reserve = reserve.clone();
            tokio::spawn(async move {
                let mut totals = Vec::new();
                for _ in 0..50 {
                    totals.extend(reserve(Arc::clone(&shared)).await);
                }
                totals
            })
        })
        .collect();
    let mut totals = Vec::new();
    for w in writers {
        totals.extend(w.await.unwrap());
    }
    totals.sort_unstable();
    totals
}

/// Many reservers at once: every grant is a distinct range and the total never passes the limit.
pub(crate) async fn concurrent_reservations_never_pass_the_limit(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let totals = race(&shared, move |s| async move {
        s.reserve_key_usage(t.id, 1, 7, 1_000).await.unwrap()
    })
    .await;
    // 1,000 / 7 = 142 grants fit; each total is a distinct multiple of 7.
    assert_eq!(totals, (1..=142).map(|i| i * 7).collect::<Vec<_>>());
    assert_eq!(store.key_usage(t.id).await.unwrap(), vec![(1, 994)]);
}

/// A budget adds within its window up to the limit; a newer window starts from zero, an older
/// one counts into the current; concurrent reservers never pass the limit together.
pub(crate) async fn budgets_count_per_window_and_never_pass_the_limit(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let scope = "new-identifiers/00000000000000aa";
    assert_eq!(
        store.reserve_budget(scope, 10, 60, 100).await.unwrap(),
        Some(60)
    );
    assert_eq!(
        store.reserve_budget(scope, 10, 41, 100).await.unwrap(),
        None
    );
    assert_eq!(
        store.reserve_budget(scope, 10, 40, 100).await.unwrap(),
        Some(100)
    );
    // An older window (a node whose clock is behind) uses the current window's budget.
    assert_eq!(store.reserve_budget(scope, 9, 1, 100).await.unwrap(), None);
    // The next window starts from zero; other scopes are apart.
    assert_eq!(
        store.reserve_budget(scope, 11, 5, 100).await.unwrap(),
        Some(5)
    );
    assert_eq!(
        store.reserve_budget(scope, 10, 5, 100).await.unwrap(),
        Some(10)
    );
    assert_eq!(
        store
            .reserve_budget("new-identifiers/00000000000000bb", 11, 7, 100)
            .await
            .unwrap(),
        Some(7)
    );
    assert_eq!(store.reserve_budget(scope, 11, 1, 5).await.unwrap(), None);
    assert_eq!(
        store
            .reserve_budget(scope, 11, u64::MAX, u64::MAX)
            .await
            .unwrap(),
        None
    );

    // Listed by prefix, in scope order.
    assert_eq!(
        store.budgets("new-identifiers/").await.unwrap(),
        vec![
            (scope.to_owned(), 11, 10),
            ("new-identifiers/00000000000000bb".to_owned(), 11, 7),
        ]
    );
    assert_eq!(store.budgets("serials/").await.unwrap(), vec![]);

    let totals = race(&shared, |s| async move {
        s.reserve_budget("race", 3, 7, 1_000).await.unwrap()
    })
    .await;
    assert_eq!(totals, (1..=142).map(|i| i * 7).collect::<Vec<_>>());
    assert_eq!(
        store.budgets("race").await.unwrap(),
        vec![("race".to_owned(), 3, 994)]
    );
}
