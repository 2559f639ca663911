//! Cases of the consent family.

use std::sync::Arc;

use super::fixture::tenant;
use crate::{
    model::{ConsentEvent, ConsentEventKind},
    store::{Store, StoreError, records::ConsentTextRecord},
};

fn event(kind: ConsentEventKind, at_ms: i64) -> ConsentEvent {
    ConsentEvent {
        seq: 0, // set by `append_next`
        kind,
        text_version: 1,
        method: "bankid".into(),
        at_ms,
        recorded_by: "cm".into(),
        ..ConsentEvent::default()
    }
}

/// Appends `event` as the next one of its history, the way the vault does.
pub(crate) async fn append_next(
    store: &dyn Store,
    tenant_id: u64,
    subject: crate::model::SubjectHandle,
    purpose: &str,
    mut event: ConsentEvent,
) -> ConsentEvent {
    event.seq = store
        .latest_consents(tenant_id, purpose, vec![subject])
        .await
        .unwrap()
        .pop()
        .flatten()
        .map_or(1, |e| e.seq + 1);
    store
        .append_consent(tenant_id, subject, purpose, event)
        .await
        .unwrap()
}

/// Sequence numbers count from 1 per (subject, purpose); the latest event is found per subject.
pub(crate) async fn consent_events_are_numbered_per_history(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let (a, b) = ([1; 16], [2; 16]);
    let e1 = append_next(
        store,
        t.id,
        a,
        "research",
        event(ConsentEventKind::Granted, 1),
    )
    .await;
    let e2 = append_next(
        store,
        t.id,
        a,
        "research",
        event(ConsentEventKind::Withdrawn, 2),
    )
    .await;
    let other = append_next(store, t.id, a, "care", event(ConsentEventKind::Granted, 3)).await;
    let b1 = append_next(
        store,
        t.id,
        b,
        "research",
        event(ConsentEventKind::Granted, 4),
    )
    .await;
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
        append_next(
            store,
            t.id,
            subject,
            purpose,
            event(ConsentEventKind::Granted, 1),
        )
        .await;
    }
    append_next(
        store,
        u.id,
        [1; 16],
        "a",
        event(ConsentEventKind::Granted, 1),
    )
    .await;
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

/// An event is stored only as its history's next number: a number taken (by a concurrent
/// append) or skipped is refused and changes nothing; of appends racing for one number exactly
/// one wins.
pub(crate) async fn an_event_is_appended_only_as_the_next_one(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let a = [1; 16];
    let first = append_next(
        store,
        t.id,
        a,
        "research",
        event(ConsentEventKind::Granted, 1),
    )
    .await;
    assert_eq!(first.seq, 1);
    for seq in [1, 3, 0] {
        let mut e = event(ConsentEventKind::Withdrawn, 2);
        e.seq = seq;
        let refused = store.append_consent(t.id, a, "research", e).await;
        assert!(
            matches!(refused, Err(StoreError::AlreadyExists("consent event"))),
            "seq {seq}: {refused:?}"
        );
    }
    let tid = t.id;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut e = event(ConsentEventKind::Withdrawn, 10 + i);
                e.seq = 2;
                shared.append_consent(tid, a, "research", e).await
            })
        })
        .collect();
    let mut won = Vec::new();
    for r in racers {
        match r.await.unwrap() {
            Ok(e) => won.push(e),
            Err(StoreError::AlreadyExists("consent event")) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one append takes number 2");
    assert_eq!(
        store.consent_history(t.id, a, "research").await.unwrap(),
        vec![first, won.remove(0)]
    );
}

/// Sealing an event of an earlier version adds its MAC and nothing else, once: an event that
/// has a MAC, or that differs in any other field, is left as it is.
pub(crate) async fn sealing_an_event_only_adds_its_missing_mac(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let a = [1; 16];
    let stored = append_next(
        store,
        t.id,
        a,
        "research",
        event(ConsentEventKind::Granted, 1),
    )
    .await;
    let mut changed = stored.clone();
    changed.kind = ConsentEventKind::Withdrawn;
    changed.mac = "aa".into();
    assert!(
        !store
            .seal_consent(t.id, a, "research", &changed)
            .await
            .unwrap()
    );
    let mut no_mac = stored.clone();
    no_mac.text_version = 9;
    assert!(
        !store
            .seal_consent(t.id, a, "research", &no_mac)
            .await
            .unwrap()
    );
    let mut sealed = stored.clone();
    sealed.mac = "bb".into();
    let mut elsewhere = sealed.clone();
    elsewhere.seq = 2;
    assert!(
        !store
            .seal_consent(t.id, a, "research", &elsewhere)
            .await
            .unwrap()
    );
    assert!(!store.seal_consent(t.id, a, "care", &sealed).await.unwrap());
    assert!(
        store
            .seal_consent(t.id, a, "research", &sealed)
            .await
            .unwrap()
    );
    assert_eq!(
        store.consent_history(t.id, a, "research").await.unwrap(),
        vec![sealed.clone()]
    );
    let mut again = sealed;
    again.mac = "cc".into();
    assert!(
        !store
            .seal_consent(t.id, a, "research", &again)
            .await
            .unwrap()
    );
    assert_eq!(
        store.consent_history(t.id, a, "research").await.unwrap()[0].mac,
        "bb"
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
        append_next(
            store,
            t.id,
            subject,
            purpose,
            event(ConsentEventKind::Granted, 1),
        )
        .await;
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
