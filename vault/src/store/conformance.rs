//! The conformance suite every back-end must pass (sled here; PostgreSQL when it lands).

use super::{Store, StoreError, records::*};
use crate::engine::consent::{ConsentEvent, ConsentEventKind};

fn mapping(subject: u8, ct: Option<Vec<u8>>) -> MappingRecord {
    MappingRecord {
        epoch: 1,
        subject: [subject; 16],
        created_ms: 1_000,
        expires_ms: 0,
        ciphertext: ct,
    }
}

pub(crate) async fn run(store: &dyn Store) {
    // Registry.
    let t = TenantRecord {
        id: store.next_id().await.unwrap_or(0),
        name: "acme".into(),
        created_ms: 1,
        shredded_ms: 0,
        age_of_consent: 0,
    };
    let keys = valv_kms::WrappedTenantKeys {
        tenant_id: t.id,
        encryption: vec![],
        pseudonym_epochs: vec![],
        subject: valv_kms::WrappedKey {
            provider: "file".into(),
            root_key_id: "x".into(),
            wrapped_hex: "00".into(),
        },
        signing: valv_kms::WrappedKey {
            provider: "file".into(),
            root_key_id: "x".into(),
            wrapped_hex: "01".into(),
        },
    };
    assert!(store.create_tenant(&t, &keys).await.is_ok());
    assert!(matches!(
        store.create_tenant(&t, &keys).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.tenant(t.id).await.ok().flatten(), Some(t.clone()));
    assert!(store.tenant_keys(t.id).await.ok().flatten().is_some());

    let d = DomainRecord {
        id: store.next_id().await.unwrap_or(0),
        tenant_id: t.id,
        name: "patients".into(),
        kind: crate::engine::identifier::IdentifierKind::SePersonnummer,
        scheme: crate::engine::scheme::Scheme::Keyed,
        reversible: true,
        retention_seconds: 0,
        epoch: 1,
        created_ms: 1,
        old_epochs_until_ms: 0,
        retention_since_last_use: false,
        consent_purpose: String::new(),
    };
    assert!(store.create_domain(&d).await.is_ok());
    assert!(matches!(
        store.create_domain(&d).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.domain(t.id, "patients").await.ok().flatten(),
        Some(d.clone())
    );
    assert_eq!(
        store.domain(t.id + 1000, "patients").await.ok().flatten(),
        None
    );
    assert_eq!(
        store.list_domains(t.id).await.map(|v| v.len()).ok(),
        Some(1)
    );

    // Record policies: per tenant, replaced by name, deleted once.
    let policy = RecordPolicyRecord {
        tenant_id: t.id,
        name: "visits".into(),
        fields: vec![RecordFieldRecord {
            pointer: "/patient/ssn".into(),
            domain: "patients".into(),
            required: true,
        }],
        drop: vec!["/note".into()],
        updated_ms: 1,
    };
    assert!(store.put_record_policy(&policy).await.is_ok());
    let mut changed = policy.clone();
    changed.drop.clear();
    assert!(store.put_record_policy(&changed).await.is_ok());
    assert_eq!(
        store.record_policy(t.id, "visits").await.ok().flatten(),
        Some(changed)
    );
    assert_eq!(
        store
            .record_policy(t.id + 1000, "visits")
            .await
            .ok()
            .flatten(),
        None
    );
    assert_eq!(
        store.list_record_policies(t.id).await.map(|v| v.len()).ok(),
        Some(1)
    );
    assert_eq!(
        store.delete_record_policy(t.id, "visits").await.ok(),
        Some(true)
    );
    assert_eq!(
        store.delete_record_policy(t.id, "visits").await.ok(),
        Some(false)
    );
    assert_eq!(
        store.list_record_policies(t.id).await.map(|v| v.len()).ok(),
        Some(0)
    );

    // Mappings: insert-if-absent, repeated rows in a batch, blind index.
    let rows = vec![
        NewMapping {
            blind: None,
            pseudonym: vec![1; 16],
            record: mapping(1, Some(vec![9])),
        },
        NewMapping {
            blind: None,
            pseudonym: vec![1; 16],
            record: mapping(1, Some(vec![8])),
        },
        NewMapping {
            blind: None,
            pseudonym: vec![2; 16],
            record: mapping(2, None),
        },
    ];
    let out = store
        .insert_mappings(t.id, d.id, rows)
        .await
        .unwrap_or_default();
    assert_eq!(
        out,
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Existing(vec![1; 16]),
            InsertOutcome::Inserted
        ]
    );
    let again = store
        .insert_mappings(
            t.id,
            d.id,
            vec![NewMapping {
                blind: None,
                pseudonym: vec![1; 16],
                record: mapping(1, None),
            }],
        )
        .await
        .unwrap_or_default();
    assert_eq!(again, vec![InsertOutcome::Existing(vec![1; 16])]);
    let got = store
        .mappings(d.id, vec![vec![1; 16], vec![3; 16]])
        .await
        .unwrap_or_default();
    assert_eq!(got, vec![Some(mapping(1, Some(vec![9]))), None]);
    let blind = |p: u8| NewMapping {
        blind: Some([7; 16]),
        pseudonym: vec![p; 16],
        record: mapping(3, None),
    };
    assert_eq!(
        store
            .insert_mappings(t.id, d.id, vec![blind(5)])
            .await
            .unwrap_or_default(),
        vec![InsertOutcome::Inserted]
    );
    assert_eq!(
        store
            .insert_mappings(t.id, d.id, vec![blind(6)])
            .await
            .unwrap_or_default(),
        vec![InsertOutcome::Existing(vec![5; 16])]
    );
    assert_eq!(
        store
            .contains_mappings(d.id, vec![vec![1; 16], vec![3; 16]])
            .await
            .unwrap_or_default(),
        vec![true, false]
    );
    // Other domain ids see nothing.
    assert_eq!(
        store
            .mappings(d.id + 1, vec![vec![1; 16]])
            .await
            .unwrap_or_default(),
        vec![None]
    );

    // Consent texts: versions in order, a version only once.
    let text = |version| ConsentTextRecord {
        purpose: "research".into(),
        version,
        text: format!("text {version}"),
        sha256: String::new(),
        added_ms: 1,
    };
    for v in [1, 2] {
        assert!(store.put_consent_text(t.id, &text(v)).await.is_ok());
    }
    assert!(matches!(
        store.put_consent_text(t.id, &text(2)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let versions: Vec<u32> = store
        .consent_texts(t.id, "research")
        .await
        .unwrap_or_default()
        .iter()
        .map(|x| x.version)
        .collect();
    assert_eq!(versions, vec![1, 2]);

    // Evidence: put, scan in id order after a cursor, compare-and-swap.
    for id in [[3u8; 16], [1; 16], [2; 16]] {
        assert!(store.put_evidence(t.id, &id, vec![id[0]]).await.is_ok());
    }
    assert!(
        store
            .put_evidence(t.id + 1, &[0; 16], vec![9])
            .await
            .is_ok()
    );
    let page = store
        .scan_evidence(t.id, Vec::new(), 2)
        .await
        .unwrap_or_default();
    assert_eq!(
        page,
        vec![([1u8; 16].to_vec(), vec![1]), ([2u8; 16].to_vec(), vec![2])]
    );
    let rest = store
        .scan_evidence(t.id, [2u8; 16].to_vec(), 10)
        .await
        .unwrap_or_default();
    assert_eq!(rest, vec![([3u8; 16].to_vec(), vec![3])]);
    assert_eq!(
        store
            .replace_evidence(t.id, &[3; 16], &[3], vec![4])
            .await
            .ok(),
        Some(true)
    );
    assert_eq!(
        store
            .replace_evidence(t.id, &[3; 16], &[3], vec![5])
            .await
            .ok(),
        Some(false)
    );
    assert_eq!(
        store.evidence(t.id, &[3; 16]).await.ok().flatten(),
        Some(vec![4])
    );

    // Subject events: sequence numbers per tenant, from a cursor. Markers set once.
    let ev = |kind: &str| SubjectEventRecord {
        kind: kind.into(),
        ..SubjectEventRecord::default()
    };
    assert!(
        store
            .append_subject_events(t.id, vec![ev("a"), ev("b")])
            .await
            .is_ok()
    );
    assert!(
        store
            .append_subject_events(t.id + 1, vec![ev("x")])
            .await
            .is_ok()
    );
    assert!(
        store
            .append_subject_events(t.id, vec![ev("c")])
            .await
            .is_ok()
    );
    let got: Vec<(u64, String)> = store
        .subject_events(t.id, 1, 10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.seq, e.kind))
        .collect();
    assert_eq!(got, vec![(2, "b".to_owned()), (3, "c".to_owned())]);
    assert_eq!(store.mark_once("k").await.ok(), Some(true));
    assert_eq!(store.mark_once("k").await.ok(), Some(false));

    // Consents: sequence numbers and latest.
    let ev = |kind| ConsentEvent {
        seq: 0,
        kind,
        text_version: 1,
        method: "web".into(),
        at_ms: 1,
        valid_until_ms: 0,
        recorded_by: "p".into(),
        ..ConsentEvent::default()
    };
    let a = store
        .append_consent(t.id, [1; 16], "research", ev(ConsentEventKind::Granted))
        .await;
    assert_eq!(a.map(|e| e.seq).ok(), Some(1));
    let b = store
        .append_consent(t.id, [1; 16], "research", ev(ConsentEventKind::Withdrawn))
        .await;
    assert_eq!(b.map(|e| e.seq).ok(), Some(2));
    assert_eq!(
        store
            .consent_history(t.id, [1; 16], "research")
            .await
            .map(|h| h.len())
            .ok(),
        Some(2)
    );
    assert_eq!(
        store
            .consent_history(t.id, [1; 16], "research2")
            .await
            .map(|h| h.len())
            .ok(),
        Some(0)
    );
    let latest = store
        .latest_consents(t.id, "research", vec![[1; 16], [2; 16]])
        .await
        .unwrap_or_default();
    assert_eq!(latest.len(), 2);
    assert_eq!(
        latest[0].as_ref().map(|e| e.kind),
        Some(ConsentEventKind::Withdrawn)
    );
    assert_eq!(latest[1], None);

    // Audit: sequence numbers per chain.
    let entry = crate::audit::entry(1, "p", "x");
    assert!(
        store
            .append_audit(t.id, vec![entry.clone(), entry.clone()])
            .await
            .is_ok()
    );
    assert!(store.append_audit(t.id, vec![entry.clone()]).await.is_ok());
    assert!(store.append_audit(0, vec![entry]).await.is_ok());
    let chain: Vec<u64> = store
        .read_audit(t.id, 1, 100)
        .await
        .unwrap_or_default()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(chain, vec![1, 2, 3]);
    // Linked: each entry carries the previous one's hash, and the chain verifies.
    let entries = store.read_audit(t.id, 1, 100).await.unwrap_or_default();
    assert_eq!(entries[0].prev_hash, valv_proto::audit::GENESIS.to_vec());
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    let v = valv_proto::audit::verify_chain(t.id, &entries, &[], &[0; 32]);
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        store.audit_head(t.id).await.ok().flatten(),
        Some((3, entries[2].hash.clone()))
    );
    assert_eq!(
        store.read_audit(t.id, 2, 1).await.map(|e| e.len()).ok(),
        Some(1)
    );
    let cp = valv_proto::v1::AuditCheckpoint {
        chain: t.id,
        seq: 3,
        head_hash: entries[2].hash.clone(),
        at_unix_ms: 9,
        signature: vec![1; 64],
    };
    assert!(store.put_audit_checkpoint(&cp).await.is_ok());
    assert_eq!(store.audit_checkpoints(t.id).await.ok(), Some(vec![cp]));
    assert_eq!(
        store.audit_checkpoints(0).await.map(|c| c.len()).ok(),
        Some(0)
    );
    assert_eq!(
        store.read_audit(0, 1, 100).await.map(|c| c.len()).ok(),
        Some(1)
    );

    assert!(store.sync().await.is_ok());
}

#[tokio::test]
async fn sled_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = super::sled::SledStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    run(&store).await;
}

#[tokio::test]
async fn sled_audit_sequence_continues_after_reopen() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let entry = crate::audit::entry(1, "p", "x");
    {
        let store = super::sled::SledStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.append_audit(5, vec![entry.clone()]).await.is_ok());
        assert!(store.sync().await.is_ok());
    }
    let store = super::sled::SledStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(store.append_audit(5, vec![entry]).await.is_ok());
    let seqs: Vec<u64> = store
        .read_audit(5, 1, 100)
        .await
        .unwrap_or_default()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2]);
}
