//! Cases of the registry family.

use std::sync::Arc;

use super::fixture::{domain, keys, tenant};
use crate::store::{
    Store, StoreError,
    records::{
        AgreementRecord, PrincipalRecord, PurposeRecord, RecordFieldRecord, RecordPolicyRecord,
        Role, TenantRecord,
    },
};

/// Ids are never 0 and never handed out twice, also to concurrent callers.
pub(crate) async fn ids_are_unique_and_never_zero(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(store.next_id().await.unwrap());
    }
    assert!(ids.iter().all(|id| *id > 0));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    // After data copied in with ids up to 500, new ids come above it; advancing backwards
    // changes nothing.
    store.advance_ids(500).await.unwrap();
    let next = store.next_id().await.unwrap();
    assert!(next > 500, "{next}");
    store.advance_ids(3).await.unwrap();
    assert!(store.next_id().await.unwrap() > next);
}

/// A tenant name is taken once; the tenant, its id by name and its keys are found again.
pub(crate) async fn tenant_names_are_unique(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let again = TenantRecord {
        id: store.next_id().await.unwrap(),
        ..t.clone()
    };
    assert!(matches!(
        store.create_tenant(&again, &keys(again.id, "r1")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    // The refused tenant left nothing behind.
    assert_eq!(store.tenant(again.id).await.unwrap(), None);
    assert!(store.tenant_keys(again.id).await.unwrap().is_none());
    assert_eq!(store.tenant(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(store.tenant_id_by_name("acme").await.unwrap(), Some(t.id));
    assert_eq!(store.tenant_id_by_name("other").await.unwrap(), None);
    assert_eq!(
        super::fixture::tag(store.tenant_keys(t.id).await.unwrap()),
        Some((t.id, "r1".to_owned()))
    );
    let second = tenant(store, "beta").await;
    let all: Vec<u64> = store
        .tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(all, vec![t.id, second.id]);
}

/// Replacing a tenant record is seen at once and raises only that tenant's generation.
pub(crate) async fn a_tenant_change_raises_its_generation(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let a = tenant(store, "a").await;
    let b = tenant(store, "b").await;
    let (ga, gb) = (
        store.tenant_generation(a.id).await.unwrap(),
        store.tenant_generation(b.id).await.unwrap(),
    );
    let changed = TenantRecord {
        age_of_consent: 13,
        ..a.clone()
    };
    store.put_tenant(&changed).await.unwrap();
    assert_eq!(store.tenant(a.id).await.unwrap(), Some(changed));
    assert!(store.tenant_generation(a.id).await.unwrap() > ga);
    assert_eq!(store.tenant_generation(b.id).await.unwrap(), gb);
    assert_eq!(store.tenant_generation(9_999_999).await.unwrap(), 0);
    // Domains and purposes are cached on the request path: each write raises the counter.
    let mut d = domain(
        store.next_id().await.unwrap(),
        a.id,
        "patients",
        crate::model::Scheme::Keyed,
    );
    let g = store.tenant_generation(a.id).await.unwrap();
    store.create_domain(&d).await.unwrap();
    let g2 = store.tenant_generation(a.id).await.unwrap();
    assert!(g2 > g, "create_domain");
    d.epoch += 1;
    store.put_domain(&d).await.unwrap();
    let g3 = store.tenant_generation(a.id).await.unwrap();
    assert!(g3 > g2, "put_domain");
    store
        .put_purpose(&crate::store::records::PurposeRecord {
            tenant_id: a.id,
            name: "care".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        store.tenant_generation(a.id).await.unwrap() > g3,
        "put_purpose"
    );
    assert_eq!(store.tenant_generation(b.id).await.unwrap(), gb);
}

/// A domain name is taken once per tenant; `put_domain` replaces; lists are by name.
pub(crate) async fn domain_names_are_unique_per_tenant(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    use crate::model::Scheme;
    let t = tenant(store, "acme").await;
    let other = tenant(store, "other").await;
    let d = domain(
        store.next_id().await.unwrap(),
        t.id,
        "patients",
        Scheme::Keyed,
    );
    store.create_domain(&d).await.unwrap();
    assert!(matches!(
        store.create_domain(&d).await,
        Err(StoreError::AlreadyExists(_))
    ));
    // The same name in another tenant is another domain.
    let o = domain(
        store.next_id().await.unwrap(),
        other.id,
        "patients",
        Scheme::Random,
    );
    store.create_domain(&o).await.unwrap();
    assert_eq!(
        store.domain(t.id, "patients").await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(store.domain(other.id, "patients").await.unwrap(), Some(o));
    assert_eq!(store.domain(t.id, "nope").await.unwrap(), None);
    let mut rotated = d.clone();
    rotated.epoch = 2;
    rotated.old_epochs_until_ms = 77;
    store.put_domain(&rotated).await.unwrap();
    assert_eq!(store.domain(t.id, "patients").await.unwrap(), Some(rotated));
    let a = domain(
        store.next_id().await.unwrap(),
        t.id,
        "appointments",
        Scheme::Keyed,
    );
    store.create_domain(&a).await.unwrap();
    let names: Vec<String> = store
        .list_domains(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, vec!["appointments", "patients"]);
}

/// Purposes are created or replaced by name, per tenant, and listed by name.
pub(crate) async fn purposes_are_replaced_by_name(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let p = PurposeRecord {
        tenant_id: t.id,
        name: "research".into(),
        min_text_version: 1,
        ..PurposeRecord::default()
    };
    store.put_purpose(&p).await.unwrap();
    let changed = PurposeRecord {
        min_text_version: 3,
        domains: vec!["patients".into()],
        ..p.clone()
    };
    store.put_purpose(&changed).await.unwrap();
    store
        .put_purpose(&PurposeRecord {
            name: "care".into(),
            ..p.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.purpose(t.id, "research").await.unwrap(),
        Some(changed)
    );
    assert_eq!(store.purpose(t.id + 1, "research").await.unwrap(), None);
    let names: Vec<String> = store
        .list_purposes(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["care", "research"]);
}

/// Record policies: per tenant, replaced by name, deleted once.
pub(crate) async fn record_policies_are_replaced_and_deleted_once(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
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
        mac: String::new(),
    };
    store.put_record_policy(&policy).await.unwrap();
    let mut changed = policy.clone();
    changed.drop.clear();
    store.put_record_policy(&changed).await.unwrap();
    assert_eq!(
        store.record_policy(t.id, "visits").await.unwrap(),
        Some(changed)
    );
    assert_eq!(
        store.record_policy(t.id + 1000, "visits").await.unwrap(),
        None
    );
    assert_eq!(store.list_record_policies(t.id).await.unwrap().len(), 1);
    assert!(store.delete_record_policy(t.id, "visits").await.unwrap());
    assert!(!store.delete_record_policy(t.id, "visits").await.unwrap());
    assert!(store.list_record_policies(t.id).await.unwrap().is_empty());
}

/// Sharing agreements: per tenant, created once by name (atomically: of two concurrent
/// creations one wins), deleted once.
pub(crate) async fn sharing_agreements_are_created_once_and_deleted_once(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let agreement = AgreementRecord {
        tenant_id: t.id,
        name: "registry-study".into(),
        from_domain: "patients".into(),
        to_domain: "study".into(),
        purpose: "research".into(),
        recipient: "Registry centre".into(),
        legal_basis: "Art. 9(2)(j)".into(),
        valid_until_ms: 10,
        created_ms: 1,
        created_by: "a".into(),
        ..AgreementRecord::default()
    };
    let rival = AgreementRecord {
        recipient: "Someone else".into(),
        ..agreement.clone()
    };
    let (a, b) = tokio::join!(
        store.create_agreement(&agreement),
        store.create_agreement(&rival)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    assert!(matches!(
        a.err().or(b.err()),
        Some(StoreError::AlreadyExists(_))
    ));
    let stored = store
        .agreement(t.id, "registry-study")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.to_domain, "study");
    assert_eq!(
        store
            .agreement(t.id + 1000, "registry-study")
            .await
            .unwrap(),
        None
    );
    let second = AgreementRecord {
        name: "audit-sample".into(),
        ..agreement.clone()
    };
    store.create_agreement(&second).await.unwrap();
    let names: Vec<String> = store
        .list_agreements(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, vec!["audit-sample", "registry-study"]);
    assert!(store.list_agreements(t.id + 1000).await.unwrap().is_empty());
    assert!(
        store
            .delete_agreement(t.id, "registry-study")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_agreement(t.id, "registry-study")
            .await
            .unwrap()
    );
    assert_eq!(store.list_agreements(t.id).await.unwrap().len(), 1);
}

fn principal(id: &str, tenant_id: Option<u64>, cert: Option<&str>) -> PrincipalRecord {
    PrincipalRecord {
        id: id.into(),
        tenant_id,
        name: id.into(),
        roles: vec![Role::Tokenizer],
        purposes: vec![],
        token_sha256: "00".into(),
        client_cert_sha256: cert.map(str::to_owned),
        revoked: false,
        created_ms: 1,
        ..PrincipalRecord::default()
    }
}

/// A certificate fingerprint binds one principal; others are refused and nothing is written.
pub(crate) async fn a_certificate_binds_one_principal(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let a = principal("aaaa", Some(t.id), Some("fp1"));
    store.put_principal(&a).await.unwrap();
    // The holder may be stored again (a revocation keeps its binding).
    let revoked = PrincipalRecord {
        revoked: true,
        ..a.clone()
    };
    store.put_principal(&revoked).await.unwrap();
    let b = principal("bbbb", Some(t.id), Some("fp1"));
    assert!(matches!(
        store.put_principal(&b).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.principal("bbbb").await.unwrap(), None);
    assert_eq!(
        store.principal("aaaa").await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(store.principal_by_cert("fp1").await.unwrap(), Some(revoked));
    assert_eq!(store.principal_by_cert("fp2").await.unwrap(), None);
    store
        .put_principal(&principal("0op0", None, None))
        .await
        .unwrap();
    store
        .put_principal(&principal("cccc", Some(t.id), None))
        .await
        .unwrap();
    let ids = |v: Vec<PrincipalRecord>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_principals(Some(t.id)).await.unwrap()),
        vec!["aaaa", "cccc"]
    );
    assert_eq!(
        ids(store.list_principals(None).await.unwrap()),
        vec!["0op0"]
    );
}

/// A principal changes only from the state its writer read: a stale writer changes nothing, and
/// a binding of a certificate another principal holds is refused with nothing written.
pub(crate) async fn replacing_a_principal_is_compare_and_swap(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let a = principal("aaaa", Some(t.id), None);
    store.put_principal(&a).await.unwrap();
    store
        .put_principal(&principal("bbbb", Some(t.id), Some("fp-b")))
        .await
        .unwrap();
    let revoked = PrincipalRecord {
        revoked: true,
        ..a.clone()
    };
    assert!(store.replace_principal(&a, &revoked).await.unwrap());
    // A writer that read `a` before the revocation loses: the revocation stays.
    let bound = PrincipalRecord {
        client_cert_sha256: Some("fp-a".into()),
        ..a.clone()
    };
    assert!(!store.replace_principal(&a, &bound).await.unwrap());
    assert_eq!(
        store.principal("aaaa").await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(store.principal_by_cert("fp-a").await.unwrap(), None);
    // From the current state it binds; a certificate held by another is refused.
    let bound = PrincipalRecord {
        client_cert_sha256: Some("fp-a".into()),
        ..revoked.clone()
    };
    assert!(store.replace_principal(&revoked, &bound).await.unwrap());
    assert_eq!(
        store.principal_by_cert("fp-a").await.unwrap(),
        Some(bound.clone())
    );
    let taken = PrincipalRecord {
        client_cert_sha256: Some("fp-b".into()),
        ..bound.clone()
    };
    assert!(matches!(
        store.replace_principal(&bound, &taken).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.principal("aaaa").await.unwrap(), Some(bound));
    // A principal that is not stored is not created.
    let ghost = principal("cccc", Some(t.id), None);
    assert!(!store.replace_principal(&ghost, &ghost).await.unwrap());
    assert_eq!(store.principal("cccc").await.unwrap(), None);
}
