//! Cases of the subject family.

use std::sync::Arc;

use super::fixture::{mapping, tenant};
use crate::{
    model::{ConsentEvent, ConsentEventKind},
    store::{
        Erasure, Store,
        records::{NewMapping, RestrictionRecord, SubjectEventRecord, TombstoneRecord},
    },
};

fn restriction(subject: &str) -> RestrictionRecord {
    RestrictionRecord {
        subject: subject.into(),
        since_ms: 5,
        by: "so".into(),
        reason: "dispute".into(),
        mac: "5e".repeat(32),
    }
}

/// Restrictions are stored per subject, replaced, removed once, and each change raises the
/// tenant's generation.
pub(crate) async fn restrictions_raise_the_generation(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let g0 = store.tenant_generation(t.id).await.unwrap();
    store
        .put_restriction(t.id, &restriction("bb"))
        .await
        .unwrap();
    let g1 = store.tenant_generation(t.id).await.unwrap();
    assert!(g1 > g0);
    let mut changed = restriction("bb");
    changed.reason = "objection".into();
    store.put_restriction(t.id, &changed).await.unwrap();
    store
        .put_restriction(t.id, &restriction("aa"))
        .await
        .unwrap();
    assert_eq!(
        store.restrictions(t.id).await.unwrap(),
        vec![restriction("aa"), changed]
    );
    assert!(store.restrictions(t.id + 1).await.unwrap().is_empty());
    let g2 = store.tenant_generation(t.id).await.unwrap();
    assert!(store.delete_restriction(t.id, "aa").await.unwrap());
    assert!(store.tenant_generation(t.id).await.unwrap() > g2);
    assert!(!store.delete_restriction(t.id, "aa").await.unwrap());
    assert_eq!(store.restrictions(t.id).await.unwrap().len(), 1);
}

fn tombstone(subject: &str) -> TombstoneRecord {
    TombstoneRecord {
        subject: subject.into(),
        erased_ms: 9,
        by: "so".into(),
        request_id: "r".into(),
        mappings: 2,
        consent_events: 1,
        evidence: 0,
        tweak: "0f".repeat(16),
        mac: "a1".repeat(32),
    }
}

/// Tombstones are kept per tenant and subject.
pub(crate) async fn tombstones_round_trip(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    store.put_tombstone(t.id, &tombstone("aa")).await.unwrap();
    assert_eq!(
        store.tombstone(t.id, "aa").await.unwrap(),
        Some(tombstone("aa"))
    );
    assert_eq!(store.tombstone(t.id, "bb").await.unwrap(), None);
    assert_eq!(store.tombstone(t.id + 1, "aa").await.unwrap(), None);
    store.put_tombstone(t.id, &tombstone("0c")).await.unwrap();
    store
        .put_tombstone(t.id + 1, &tombstone("ff"))
        .await
        .unwrap();
    let listed: Vec<String> = store
        .tombstones(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.subject)
        .collect();
    assert_eq!(listed, vec!["0c".to_owned(), "aa".to_owned()]);
}

fn subject_event(kind: &str) -> SubjectEventRecord {
    SubjectEventRecord {
        seq: 999, // assigned by the store
        at_ms: 1,
        kind: kind.into(),
        subject: "aa".into(),
        ..SubjectEventRecord::default()
    }
}

/// Subject events are numbered from 1 per tenant, in order, and read after a cursor.
pub(crate) async fn subject_events_are_numbered_from_one(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let u = tenant(store, "other").await;
    store
        .append_subject_events(t.id, vec![subject_event("a"), subject_event("b")])
        .await
        .unwrap();
    store
        .append_subject_events(u.id, vec![subject_event("x")])
        .await
        .unwrap();
    store
        .append_subject_events(t.id, vec![subject_event("c")])
        .await
        .unwrap();
    let read = |events: Vec<SubjectEventRecord>| {
        events
            .into_iter()
            .map(|e| (e.seq, e.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read(store.subject_events(t.id, 0, 100).await.unwrap()),
        vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );
    assert_eq!(
        read(store.subject_events(t.id, 1, 1).await.unwrap()),
        vec![(2, "b".into())]
    );
    assert!(store.subject_events(t.id, 3, 100).await.unwrap().is_empty());
    assert_eq!(
        read(store.subject_events(u.id, 0, 100).await.unwrap()),
        vec![(1, "x".into())]
    );
}

/// A marker is set by exactly one of many callers.
pub(crate) async fn a_marker_is_set_once(shared: Arc<dyn Store>) {
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move { shared.mark_once("expired/1/aa/research/3").await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for c in callers {
        won += usize::from(c.await.unwrap());
    }
    assert_eq!(won, 1);
    assert!(!shared.mark_once("expired/1/aa/research/3").await.unwrap());
    assert!(shared.mark_once("expired/1/aa/research/4").await.unwrap());
    assert!(shared.mark_once("checkpoint/1/7").await.unwrap());
    assert_eq!(
        shared.marks("expired/").await.unwrap(),
        vec![
            "expired/1/aa/research/3".to_owned(),
            "expired/1/aa/research/4".to_owned()
        ]
    );
    assert_eq!(shared.marks("").await.unwrap().len(), 3);
}

/// Erasure deletes the listed mappings and evidence, the subject's consents and restriction,
/// appends its events and leaves a tombstone with true counts — and nothing of anyone else.
pub(crate) async fn erasure_is_one_unit_of_work(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let (gone, kept) = ([1u8; 16], [2u8; 16]);
    let rows = vec![
        NewMapping {
            blind: None,
            pseudonym: vec![1; 16],
            record: mapping(1, None),
        },
        NewMapping {
            blind: Some([7; 16]),
            pseudonym: vec![3; 16],
            record: mapping(1, None),
        },
        NewMapping {
            blind: None,
            pseudonym: vec![2; 16],
            record: mapping(2, None),
        },
    ];
    store.insert_mappings(t.id, 90, rows).await.unwrap();
    let granted = ConsentEvent {
        kind: ConsentEventKind::Granted,
        ..ConsentEvent::default()
    };
    for (subject, purpose) in [(gone, "a"), (gone, "b"), (kept, "a")] {
        super::consents::append_next(store, t.id, subject, purpose, granted.clone()).await;
    }
    store.put_evidence(t.id, &[1; 16], vec![1]).await.unwrap();
    store.put_evidence(t.id, &[2; 16], vec![2]).await.unwrap();
    let hex_gone = hex::encode(gone);
    store
        .put_restriction(t.id, &restriction(&hex_gone))
        .await
        .unwrap();
    store
        .put_restriction(t.id, &restriction("kept"))
        .await
        .unwrap();
    store
        .append_subject_events(t.id, vec![subject_event("consent-granted")])
        .await
        .unwrap();
    let before = store.tenant_generation(t.id).await.unwrap();

    let erasure = Erasure {
        subject: gone,
        mappings: vec![
            (90, vec![1; 16], None),
            (90, vec![3; 16], Some([7; 16])),
            // Already gone: not counted.
            (90, vec![4; 16], None),
        ],
        evidence: vec![vec![1; 16], vec![5; 16]],
        events: vec![subject_event("erased"), subject_event("erased")],
        tombstone: TombstoneRecord {
            subject: hex_gone.clone(),
            erased_ms: 77,
            by: "so".into(),
            request_id: "req".into(),
            tweak: "ab".repeat(16),
            mac: "c3".repeat(32),
            ..TombstoneRecord::default()
        },
    };
    let stone = store.erase_subject(t.id, erasure).await.unwrap();
    let expected = TombstoneRecord {
        subject: hex_gone.clone(),
        erased_ms: 77,
        by: "so".into(),
        request_id: "req".into(),
        mappings: 2,
        consent_events: 2,
        evidence: 1,
        tweak: "ab".repeat(16),
        mac: "c3".repeat(32),
    };
    assert_eq!(stone, expected);
    assert_eq!(
        store.tombstone(t.id, &hex_gone).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        store
            .contains_mappings(90, vec![vec![1; 16], vec![3; 16], vec![2; 16]])
            .await
            .unwrap(),
        vec![false, false, true]
    );
    assert_eq!(store.blind_lookup(90, [7; 16]).await.unwrap(), None);
    assert!(
        store
            .consent_history(t.id, gone, "b")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.consent_history(t.id, kept, "a").await.unwrap().len(),
        1
    );
    assert_eq!(store.evidence(t.id, &[1; 16]).await.unwrap(), None);
    assert_eq!(store.evidence(t.id, &[2; 16]).await.unwrap(), Some(vec![2]));
    assert_eq!(
        store.restrictions(t.id).await.unwrap(),
        vec![restriction("kept")]
    );
    let kinds: Vec<(u64, String)> = store
        .subject_events(t.id, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, "consent-granted".into()),
            (2, "erased".into()),
            (3, "erased".into())
        ]
    );
    assert!(store.tenant_generation(t.id).await.unwrap() > before);
}
