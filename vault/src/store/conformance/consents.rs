//! Cases of the consent family.

use std::sync::Arc;

use super::fixture::tenant;
use crate::{
    model::{ConsentEvent, ConsentEventKind},
    store::{Store, StoreError, records::ConsentTextRecord},
};

fn event(kind: ConsentEventKind, at_ms: i64) -> ConsentEvent {
    ConsentEvent {
        seq: 999, // assigned by the store
        kind,
        text_version: 1,
        method: "bankid".into(),
        at_ms,
        recorded_by: "cm".into(),
        ..ConsentEvent::default()
    }
}

/// Sequence numbers count from 1 per (subject, purpose); the latest event is found per subject.
pub(crate) async fn consent_events_are_numbered_per_history(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let (a, b) = ([1; 16], [2; 16]);
    let e1 = store
        .append_consent(t.id, a, "research", event(ConsentEventKind::Granted, 1))
        .await
        .unwrap();
    let e2 = store
        .append_consent(t.id, a, "research", event(ConsentEventKind::Withdrawn, 2))
        .await
        .unwrap();
    let other = store
        .append_consent(t.id, a, "care", event(ConsentEventKind::Granted, 3))
        .await
        .unwrap();
    let b1 = store
        .append_consent(t.id, b, "research", event(ConsentEventKind::Granted, 4))
        .await
        .unwrap();
    assert_eq!((e1.seq, e2.seq, other.seq, b1.seq), (1, 2, 1, 1));
    let history = store.consent_history(t.id, a, "research").await.unwrap();
    assert_eq!(history, vec![e1, e2.clone()]);
    assert!(
        store
            .consent_history(t.id + 1, a, "research")
            .await
            .unwrap()
            .is_empty()
    );
    let latest = store
        .latest_consents(t.id, "research", vec![a, [3; 16], b])
        .await
        .unwrap();
    assert_eq!(latest, vec![Some(e2), None, Some(b1)]);
}

/// A scan lists every event of one tenant by subject, purpose and sequence number.
pub(crate) async fn scans_list_every_event_of_a_tenant(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let u = tenant(store, "other").await;
    for (subject, purpose) in [
        ([2; 16], "b"),
        ([1; 16], "b"),
        ([1; 16], "a"),
        ([1; 16], "a"),
    ] {
        store
            .append_consent(t.id, subject, purpose, event(ConsentEventKind::Granted, 1))
            .await
            .unwrap();
    }
    store
        .append_consent(u.id, [1; 16], "a", event(ConsentEventKind::Granted, 1))
        .await
        .unwrap();
    let listed: Vec<(u8, String, u64)> = store
        .scan_consents(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, p, e)| (s[0], p, e.seq))
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, "a".into(), 1),
            (1, "a".into(), 2),
            (1, "b".into(), 1),
            (2, "b".into(), 1)
        ]
    );
}

/// Deleting consents removes every purpose's history of one subject, and only that.
pub(crate) async fn deleting_consents_touches_one_subject(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    for (subject, purpose) in [
        ([1; 16], "a"),
        ([1; 16], "b"),
        ([1; 16], "b"),
        ([2; 16], "a"),
    ] {
        store
            .append_consent(t.id, subject, purpose, event(ConsentEventKind::Granted, 1))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_consents(t.id, [1; 16]).await.unwrap(), 3);
    assert_eq!(store.delete_consents(t.id, [1; 16]).await.unwrap(), 0);
    assert!(
        store
            .consent_history(t.id, [1; 16], "b")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .consent_history(t.id, [2; 16], "a")
            .await
            .unwrap()
            .len(),
        1
    );
}

fn text(purpose: &str, version: u32) -> ConsentTextRecord {
    ConsentTextRecord {
        purpose: purpose.into(),
        version,
        text: format!("text {version}"),
        sha256: "00".into(),
        added_ms: i64::from(version),
    }
}

/// A text version is stored once; texts list oldest first, per purpose.
pub(crate) async fn a_text_version_is_stored_once(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    for v in [2, 1, 10] {
        store
            .put_consent_text(t.id, &text("research", v))
            .await
            .unwrap();
    }
    store
        .put_consent_text(t.id, &text("care", 1))
        .await
        .unwrap();
    let mut changed = text("research", 2);
    changed.text = "other words".into();
    assert!(matches!(
        store.put_consent_text(t.id, &changed).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let texts = store.consent_texts(t.id, "research").await.unwrap();
    assert_eq!(
        texts,
        vec![
            text("research", 1),
            text("research", 2),
            text("research", 10)
        ]
    );
    assert!(
        store
            .consent_texts(t.id + 1, "research")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Evidence: put, found, scanned in id order after a cursor, swapped only from what was read,
/// deleted once.
pub(crate) async fn evidence_is_scanned_swapped_and_deleted(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let u = tenant(store, "other").await;
    for id in [3u8, 1, 2] {
        store.put_evidence(t.id, &[id; 16], vec![id]).await.unwrap();
    }
    store.put_evidence(u.id, &[0; 16], vec![0]).await.unwrap();
    assert_eq!(store.evidence(t.id, &[2; 16]).await.unwrap(), Some(vec![2]));
    assert_eq!(store.evidence(u.id, &[2; 16]).await.unwrap(), None);
    let ids =
        |page: Vec<(Vec<u8>, Vec<u8>)>| page.into_iter().map(|(id, _)| id[0]).collect::<Vec<_>>();
    assert_eq!(
        ids(store.scan_evidence(t.id, vec![], 2).await.unwrap()),
        vec![1, 2]
    );
    assert_eq!(
        ids(store.scan_evidence(t.id, vec![2; 16], 2).await.unwrap()),
        vec![3]
    );
    assert!(
        store
            .scan_evidence(t.id, vec![3; 16], 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .replace_evidence(t.id, &[1; 16], &[1], vec![11])
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_evidence(t.id, &[1; 16], &[1], vec![12])
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_evidence(t.id, &[9; 16], &[1], vec![12])
            .await
            .unwrap()
    );
    assert_eq!(
        store.evidence(t.id, &[1; 16]).await.unwrap(),
        Some(vec![11])
    );
    assert!(store.delete_evidence(t.id, &[1; 16]).await.unwrap());
    assert!(!store.delete_evidence(t.id, &[1; 16]).await.unwrap());
    assert_eq!(store.evidence(t.id, &[1; 16]).await.unwrap(), None);
}
