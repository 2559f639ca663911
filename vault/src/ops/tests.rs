//! Two vault nodes on one store: what one node changes, the other honours at its next request
//! (the cache rules of `ARCHITECTURE.md`), and what both decide at once is decided once.

use std::sync::Arc;

use crate::{
    config::Limits,
    error::VaultError,
    ops::{self, subject::SubjectBy},
    store::records::Role,
    testkit::{Nodes, caller, clinic},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_made_on_one_node_holds_on_the_other() {
    let nodes = Nodes::new();
    let (a, b) = (
        nodes.node(Limits::default()).await,
        nodes.node(Limits::default()).await,
    );
    let (tenant_id, pseudonyms) = clinic(&a, 3).await;
    // B has loaded (and cached) the tenant's restrictions: none.
    b.observe(tenant_id).await.unwrap();
    assert!(b.restricted(tenant_id).await.unwrap().is_empty());
    let officer = caller(Some(tenant_id), Role::SubjectOfficer);
    ops::subjects::restrict(
        &a,
        &officer,
        "patients",
        SubjectBy::Pseudonym(pseudonyms[1].clone()),
        "dispute".into(),
    )
    .await
    .unwrap();
    // Still cached on B until its next request reads the change counter.
    assert!(b.restricted(tenant_id).await.unwrap().is_empty());
    b.observe(tenant_id).await.unwrap();
    assert_eq!(b.restricted(tenant_id).await.unwrap().len(), 1);
    // And lifted on B, seen on A.
    a.observe(tenant_id).await.unwrap();
    assert_eq!(a.restricted(tenant_id).await.unwrap().len(), 1);
    ops::subjects::lift(
        &b,
        &officer,
        "patients",
        SubjectBy::Pseudonym(pseudonyms[1].clone()),
    )
    .await
    .unwrap();
    a.observe(tenant_id).await.unwrap();
    assert!(a.restricted(tenant_id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_on_one_node_is_used_by_the_other() {
    let nodes = Nodes::new();
    let (a, b) = (
        nodes.node(Limits::default()).await,
        nodes.node(Limits::default()).await,
    );
    let (tenant_id, _) = clinic(&a, 2).await;
    let domain = b
        .store
        .domain(tenant_id, "patients")
        .await
        .unwrap()
        .unwrap();
    b.observe(tenant_id).await.unwrap();
    assert_eq!(
        b.keys
            .domain_keys(&domain)
            .await
            .unwrap()
            .data_key
            .version(),
        1
    );
    ops::keys::rotate(&a, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    b.observe(tenant_id).await.unwrap();
    // B seals new mappings under the new version from its next request on.
    assert_eq!(
        b.keys
            .domain_keys(&domain)
            .await
            .unwrap()
            .data_key
            .version(),
        2
    );
    let tok = caller(Some(tenant_id), Role::Tokenizer);
    ops::pseudonymise::pseudonymise(&b, &tok, "patients", vec!["new-on-b".into()])
        .await
        .unwrap();
    let by_version = ops::keys::records_by_version(b.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert!(by_version.get(&2).copied().unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_shredded_on_one_node_is_refused_by_the_other() {
    let nodes = Nodes::new();
    let (a, b) = (
        nodes.node(Limits::default()).await,
        nodes.node(Limits::default()).await,
    );
    let (tenant_id, _) = clinic(&a, 1).await;
    b.observe(tenant_id).await.unwrap();
    b.keys.tenant_keys(tenant_id).await.unwrap();
    assert!(!b.keys.is_shredded(tenant_id));
    ops::shred::shred_now(&a, tenant_id, "operator", None, "req")
        .await
        .unwrap();
    b.observe(tenant_id).await.unwrap();
    assert!(b.keys.is_shredded(tenant_id));
    // Nothing of its key ring is served from B's cache.
    assert!(matches!(
        b.keys.tenant_keys(tenant_id).await,
        Err(VaultError::FailedPrecondition(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_pass_a_key_use_budget_together() {
    let nodes = Nodes::new();
    let limits = Limits {
        key_use_budget: 6_400,
        ..Limits::default()
    };
    let (a, b) = (nodes.node(limits).await, nodes.node(limits).await);
    let (tenant_id, _) = clinic(&a, 0).await;
    // Blocks of 100 (budget / 64): each node draws from its own reserved blocks.
    let draw = |app: Arc<crate::app::App>| async move {
        let mut granted = 0u64;
        for _ in 0..5_000 {
            if app.keys.reserve_encryptions(tenant_id, 1, 1).await.unwrap() {
                granted += 1;
            }
        }
        granted
    };
    let (ga, gb) = tokio::join!(
        tokio::spawn(draw(Arc::clone(&a))),
        tokio::spawn(draw(Arc::clone(&b)))
    );
    let (ga, gb) = (ga.unwrap(), gb.unwrap());
    assert!(ga + gb <= 6_400, "{ga} + {gb}");
    // Reservations are whole blocks, so at most one block per node goes unused.
    assert!(ga + gb >= 6_400 - 2 * 100, "{ga} + {gb}");
    // Never too low: every grant of both nodes is counted, whichever node is asked.
    for node in [&a, &b] {
        let counted = node.keys.encryptions(tenant_id, 1).await.unwrap();
        assert!(
            counted >= ga + gb && counted <= 6_400,
            "{counted} vs {ga} + {gb}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_counts_its_encryptions_exactly() {
    let nodes = Nodes::new();
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, _) = clinic(&app, 3).await;
    // Three mappings sealed: three encryptions, though a whole block is reserved in the store.
    assert_eq!(app.keys.encryptions(tenant_id, 1).await.unwrap(), 3);
    assert!(app.store.key_usage(tenant_id).await.unwrap()[0].1 > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_is_all_or_nothing() {
    let nodes = Nodes::new();
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, pseudonyms) = clinic(&app, 2).await;
    let officer = caller(Some(tenant_id), Role::SubjectOfficer);
    let by = || SubjectBy::Pseudonym(pseudonyms[0].clone());
    nodes.faults.fail("erase_subject");
    assert!(
        ops::subjects::erase(&app, &officer, "patients", by())
            .await
            .is_err()
    );
    nodes.faults.heal();
    // Nothing was deleted: the pseudonym still names its subject, and there is no tombstone.
    let domain = app
        .store
        .domain(tenant_id, "patients")
        .await
        .unwrap()
        .unwrap();
    let found = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(found.get(&1).copied(), Some(2));
    let stone = ops::subjects::erase(&app, &officer, "patients", by())
        .await
        .unwrap();
    assert_eq!(stone.mappings, 1);
    let left = app
        .store
        .scan_mappings(domain.id, vec![], 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_racing_an_erasure_on_another_node_keeps_nothing_of_the_old_pseudonym() {
    let nodes = Nodes::new();
    let (a, b) = (
        nodes.node(Limits::default()).await,
        nodes.node(Limits::default()).await,
    );
    let (tenant_id, pseudonyms) = clinic(&a, 2).await;
    // B read the change counter (and the erased subjects: none) for its batch ...
    b.observe(tenant_id).await.unwrap();
    assert!(b.erased(tenant_id).await.unwrap().is_empty());
    // ... then A erases patient-0 ...
    let officer = caller(Some(tenant_id), Role::SubjectOfficer);
    ops::subjects::erase(
        &a,
        &officer,
        "patients",
        SubjectBy::Identifier("patient-0".into()),
    )
    .await
    .unwrap();
    // ... and B's batch, still on what it read, would re-insert the erased pseudonym: it takes
    // the row back and asks for the batch again.
    let tok = caller(Some(tenant_id), Role::Tokenizer);
    let raced = ops::pseudonymise::pseudonymise(&b, &tok, "patients", vec!["patient-0".into()])
        .await
        .map(|p| p.results);
    assert!(matches!(raced, Err(VaultError::Aborted(_))), "{raced:?}");
    let domain = a
        .store
        .domain(tenant_id, "patients")
        .await
        .unwrap()
        .unwrap();
    let old = crate::engine::scheme::Pseudonym::parse(domain.scheme, &pseudonyms[0]).unwrap();
    assert_eq!(a.store.mapping(domain.id, &old.0).await.unwrap(), None);
    // Sent again, the batch gets the subject's new pseudonym; the other subject is untouched.
    let again = ops::pseudonymise::pseudonymise(
        &b,
        &tok,
        "patients",
        vec!["patient-0".into(), "patient-1".into()],
    )
    .await
    .unwrap()
    .results;
    assert_ne!(again[0].as_deref().unwrap(), pseudonyms[0]);
    assert_eq!(again[1].as_deref().unwrap(), pseudonyms[1]);
}
