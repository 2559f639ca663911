//! Fail closed: when the audit log cannot take an entry, acts that must be recorded are refused
//! with UNAVAILABLE and nothing is released or changed.
//!
//! The server runs on the in-memory store with fault injection: audit appends fail on command,
//! every other call works as usual.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tonic::Code;
use valv::{
    config::StoreOverride,
    store::mem::{Faults, MemStore},
};
use valv_e2e::{
    grant, jobs, key_versions, pb, pseudonymise_ok, reidentify, setup_tenant, start_configured,
};

/// Makes every way into the audit chain fail (or work again).
fn audit_fails(faults: &Faults, failing: bool) {
    if failing {
        faults.fail("append_audit");
        faults.fail("append_audit_lazy");
    } else {
        faults.heal();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_released_or_changed_when_the_audit_log_fails() {
    let faults = Arc::new(Faults::default());
    let store = MemStore::with_faults(Arc::clone(&faults));
    let server = start_configured(|c| c.store = Some(StoreOverride(Arc::new(store))), None).await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "closed",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let cm = server.client(&t.consent_manager).await;
    let re = server.client(&t.reidentifier).await;
    let auditor = server.client(&t.auditor).await;
    let ps = pseudonymise_ok(&tok, "patients", &["closed-1", "closed-2"]).await;
    cm.consents()
        .grant_consent(grant("patients", "closed-1", "research", 1, 0))
        .await
        .unwrap();
    let history = |id: &'static str| {
        let cm = cm.clone();
        async move {
            cm.consents()
                .get_consent_history(pb::GetConsentHistoryRequest {
                    subject: Some(pb::SubjectRef {
                        domain: "patients".into(),
                        by: Some(pb::subject_ref::By::Identifier(id.into())),
                    }),
                    purpose: "research".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .purposes
                .iter()
                .map(|p| p.events.len())
                .sum::<usize>()
        }
    };
    assert_eq!(history("closed-1").await, 1);
    assert_eq!(history("closed-2").await, 0);

    audit_fails(&faults, true);

    // Re-identification: refused as a whole, no identifier in the answer.
    let err = reidentify(&re, "patients", "research", &ps).await.err();
    assert_eq!(
        err.as_ref().map(tonic::Status::code),
        Some(Code::Unavailable)
    );
    assert!(!err.is_some_and(|s| s.message().contains("closed-1")));
    // Consent changes: refused, and the history is unchanged.
    let err = cm
        .consents()
        .grant_consent(grant("patients", "closed-2", "research", 1, 0))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    let err = cm
        .consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("closed-1".into())),
            }),
            purpose: "research".into(),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    assert_eq!(history("closed-1").await, 1);
    assert_eq!(history("closed-2").await, 0);
    // A key operation: refused, and the key ring is unchanged.
    let ko = server.client(&t.key_officer).await;
    let err = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    let versions = key_versions(&ko).await;
    assert_eq!(versions.len(), 1);
    let jobs = jobs(&ko).await;
    assert!(jobs.is_empty());
    // Reading the audit log is itself recorded, so it is refused too.
    let err = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));

    // Once the log works again, the consent still holds and release resumes, recorded.
    audit_fails(&faults, false);
    let released = reidentify(&re, "patients", "research", &ps).await.unwrap();
    assert_eq!(released[0], (pb::Verdict::Released, "closed-1".to_owned()));
    assert_eq!(released[1].0, pb::Verdict::NoConsent);
    let v = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.ok, "{v:?}");
    server.stop().await;
}
