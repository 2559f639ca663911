//! Migrations between back-ends: complete, checked, and safe to run again after a cut-off.

use std::sync::Arc;

use crate::{
    store::{
        Store,
        mem::{Faults, MemStore},
        migrate::migrate,
        prelude::*,
        sled::SledStore,
    },
    testkit::{Nodes, clinic},
};

/// A source store with a tenant, a domain, 2,500 mappings and their audit trail.
async fn source() -> (Nodes, Vec<String>) {
    let nodes = Nodes::new();
    let app = nodes.node(crate::config::Limits::default()).await;
    let (_, pseudonyms) = clinic(&app, 2_500).await;
    (nodes, pseudonyms)
}

fn count(report: &super::Report, what: &str) -> (u64, u64) {
    report
        .counts
        .iter()
        .find(|(w, _, _)| w == what)
        .map(|(_, s, t)| (*s, *t))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_cut_off_midway_finishes_when_run_again_without_duplicates() {
    let (nodes, _) = source().await;
    let from: Arc<dyn Store> = nodes.store.clone();
    let faults = Arc::new(Faults::default());
    let to = MemStore::with_faults(Arc::clone(&faults));
    // The second page of mappings fails: the run stops there.
    faults.fail_after("insert_mappings", 1);
    let mut quiet = |_: &str, _: u64| {};
    assert!(migrate(from.as_ref(), &to, &mut quiet).await.is_err());
    faults.heal();
    let mut steps = Vec::new();
    let report = migrate(from.as_ref(), &to, &mut |s: &str, n| {
        steps.push((s.to_owned(), n))
    })
    .await
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(count(&report, "mappings"), (2_500, 2_500));
    let (entries, copied) = count(&report, "audit chain 1");
    assert!(entries > 0);
    assert_eq!(entries, copied);
    // A third run finds nothing to copy and still matches.
    let again = migrate(from.as_ref(), &to, &mut quiet).await.unwrap();
    assert_eq!(again.counts, report.counts);
    assert!(steps.iter().any(|(s, _)| s == "audit entries"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_migrates_to_sled_and_back_identically() {
    let (nodes, pseudonyms) = source().await;
    let from: Arc<dyn Store> = nodes.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    let mut quiet = |_: &str, _: u64| {};
    let there = migrate(from.as_ref(), &sled, &mut quiet).await.unwrap();
    let back = MemStore::new();
    let again = migrate(&sled, &back, &mut quiet).await.unwrap();
    assert_eq!(there.counts, again.counts);
    // The mappings are the same rows, record for record.
    let domain = from.list_domains(1).await.unwrap();
    let domain = domain.first().map_or(0, |d| d.id);
    let original = from
        .scan_mappings(domain, Vec::new(), 10_000)
        .await
        .unwrap();
    assert_eq!(original.len(), pseudonyms.len());
    assert_eq!(
        original,
        back.scan_mappings(domain, Vec::new(), 10_000)
            .await
            .unwrap()
    );
    // New ids continue above the copied ones.
    assert!(back.next_id().await.unwrap() > domain);
}

#[tokio::test]
async fn a_target_holding_other_tenants_is_refused() {
    let (nodes, _) = source().await;
    let other = Nodes::new();
    let app = other.node(crate::config::Limits::default()).await;
    crate::ops::admin::create_tenant(
        &app,
        &crate::testkit::caller(None, crate::store::records::Role::Operator),
        "someone-else",
        "admin",
        0,
    )
    .await
    .unwrap();
    let mut quiet = |_: &str, _: u64| {};
    let refused = migrate(nodes.store.as_ref(), other.store.as_ref(), &mut quiet).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("empty store")),);
}
