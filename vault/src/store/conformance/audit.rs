//! Cases of the audit family.

use std::sync::Arc;

use valv_proto::v1::AuditCheckpoint;

use crate::{audit::entry, store::Store};

/// Entries get consecutive sequence numbers per chain, each linked to the previous hash; the
/// head names the last one.
pub(crate) async fn entries_are_chained_in_order(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    assert_eq!(store.audit_head(7).await.unwrap(), None);
    let e = entry(1, "p", "x");
    store
        .append_audit(7, vec![e.clone(), e.clone()])
        .await
        .unwrap();
    store
        .append_audit(7, vec![entry(2, "p", "y")])
        .await
        .unwrap();
    store.append_audit(0, vec![e]).await.unwrap();
    let entries = store.read_audit(7, 1, 100).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(entries[2].action, "y");
    assert_eq!(entries[0].prev_hash, valv_proto::audit::GENESIS.to_vec());
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    let v = valv_proto::audit::verify_chain(7, &entries, &[], &[0; 32]);
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        store.audit_head(7).await.unwrap(),
        Some((3, entries[2].hash.clone()))
    );
    let page = store.read_audit(7, 2, 1).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(store.read_audit(0, 1, 100).await.unwrap().len(), 1);
    assert!(store.read_audit(8, 1, 100).await.unwrap().is_empty());
}

/// A subject's entries — named as the entry's subject or an item's, lazy or not — are found by
/// subject, in order, paged by `after`/`limit`, each once, in its own chain only.
pub(crate) async fn entries_are_found_by_subject(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let (a, b) = ("aa".repeat(16), "bb".repeat(16));
    let about = |subject: &str| {
        let mut e = entry(1, "p", "consent.grant");
        e.subject = Some(subject.to_owned());
        e
    };
    let items = |subjects: &[&str]| {
        let mut e = entry(1, "p", "reidentify");
        for s in subjects {
            e.items.push(("p".into(), "released".into()));
            e.item_subjects.push((*s).to_owned());
        }
        e
    };
    let mut both = items(&[&a, &a, &b]);
    both.subject = Some(a.clone());
    store
        .append_audit(
            4,
            vec![about(&a), entry(1, "p", "pseudonymise"), items(&[&b]), both],
        )
        .await
        .unwrap();
    store
        .append_audit_lazy(4, vec![items(&["", &a])])
        .await
        .unwrap();
    store.append_audit(5, vec![about(&a)]).await.unwrap();
    let seqs = |v: Vec<valv_proto::v1::AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.subject_audit(4, &a, 0, 100).await.unwrap()),
        vec![1, 4, 5]
    );
    assert_eq!(
        seqs(store.subject_audit(4, &b, 0, 100).await.unwrap()),
        vec![3, 4]
    );
    assert_eq!(
        seqs(store.subject_audit(4, &a, 1, 1).await.unwrap()),
        vec![4]
    );
    assert_eq!(
        seqs(store.subject_audit(4, &a, 5, 100).await.unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(store.subject_audit(5, &a, 0, 100).await.unwrap()),
        vec![1]
    );
    assert!(
        store
            .subject_audit(4, &"cc".repeat(16), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let found = store.subject_audit(4, &a, 0, 100).await.unwrap();
    assert_eq!(found[0], store.read_audit(4, 1, 1).await.unwrap()[0]);
}

/// Lazy entries take their place in the same chain as durable ones.
pub(crate) async fn lazy_entries_join_the_same_chain(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .append_audit(3, vec![entry(1, "p", "a")])
        .await
        .unwrap();
    store
        .append_audit_lazy(3, vec![entry(2, "p", "b")])
        .await
        .unwrap();
    store
        .append_audit(3, vec![entry(3, "p", "c")])
        .await
        .unwrap();
    store.sync_all().await.unwrap();
    let entries = store.read_audit(3, 1, 10).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["a", "b", "c"]);
    assert!(valv_proto::audit::verify_chain(3, &entries, &[], &[0; 32]).ok());
}

/// Writers appending to one chain at once: no sequence number twice, no gap, one chain.
pub(crate) async fn concurrent_appenders_never_fork_a_chain(shared: Arc<dyn Store>) {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                for i in 0..25 {
                    let e = entry(i, &format!("writer-{w}"), "x");
                    if i % 2 == 0 {
                        shared.append_audit(11, vec![e]).await.unwrap();
                    } else {
                        shared
                            .append_audit_lazy(11, vec![e.clone(), e])
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let entries = shared.read_audit(11, 1, 1_000).await.unwrap();
    // Per writer: 13 single appends and 12 pairs.
    assert_eq!(entries.len(), 4 * (13 + 24));
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=entries.len() as u64).collect::<Vec<_>>()
    );
    let v = valv_proto::audit::verify_chain(11, &entries, &[], &[0; 32]);
    assert!(v.ok(), "{v:?}");
}

fn checkpoint(chain: u64, seq: u64) -> AuditCheckpoint {
    AuditCheckpoint {
        chain,
        seq,
        head_hash: vec![seq as u8; 32],
        at_unix_ms: 9,
        signature: vec![1; 64],
    }
}

/// Checkpoints are kept per chain by sequence number; one at the same place is replaced.
pub(crate) async fn checkpoints_are_kept_per_chain(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .put_audit_checkpoint(&checkpoint(4, 20))
        .await
        .unwrap();
    store
        .put_audit_checkpoint(&checkpoint(4, 10))
        .await
        .unwrap();
    store.put_audit_checkpoint(&checkpoint(5, 1)).await.unwrap();
    let mut again = checkpoint(4, 20);
    again.at_unix_ms = 10;
    store.put_audit_checkpoint(&again).await.unwrap();
    assert_eq!(
        store.audit_checkpoints(4).await.unwrap(),
        vec![checkpoint(4, 10), again]
    );
    assert!(store.audit_checkpoints(6).await.unwrap().is_empty());
}
