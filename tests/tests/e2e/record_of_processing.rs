//! The record of processing (GDPR Art. 30) of a configured tenant, through `valvctl tenant
//! record-of-processing` in each format, matches its golden file in `tests/golden/` (the page
//! is documentation a DPO files: a change shows in review). Run with `VALV_UPDATE_SNAPSHOTS=1`
//! to write the files anew after an intended change. Who may read it, and that a tenant sees
//! only its own, is in `access`.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use valv::config::RootConfig;
use valv_e2e::{pb, *};

const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");
const PATIENTS: [&str; 3] = ["20031116-1632", "19520903-5525", "19780724-1901"];

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

/// A hospital's tenant: three domains (keyed and reversible, random with a retention period,
/// one-way), a contract purpose and a consent purpose with its text, a record policy, some
/// mappings and one consent.
async fn hospital(server: &InProcess) -> Tenant {
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "hospital",
        &[
            (
                "patients",
                pb::IdentifierKind::SePersonnummer,
                pb::Scheme::Keyed,
                true,
            ),
            (
                "statistics",
                pb::IdentifierKind::SePersonnummer,
                pb::Scheme::Keyed,
                false,
            ),
        ],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    create_domain(
        &admin,
        "visits",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Random,
        true,
        90 * 86_400,
    )
    .await
    .unwrap();
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            description: "Follow-up studies of treatment outcomes | <b>approved</b> by the board"
                .into(),
            explicit_consent: true,
            domains: vec!["patients".into()],
            default_consent_validity_seconds: 365 * 86_400,
            evidence_retention_seconds: 5 * 365 * 86_400,
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .admin()
        .add_consent_text(pb::AddConsentTextRequest {
            purpose: "research".into(),
            text: "I agree that my treatment data may be used for research.\n\nI may withdraw at any time."
                .into(),
        })
        .await
        .unwrap();
    admin
        .admin()
        .define_record_policy(pb::DefineRecordPolicyRequest {
            policy: Some(pb::RecordPolicy {
                name: "admissions".into(),
                fields: vec![pb::RecordField {
                    pointer: "/patient/ssn".into(),
                    domain: "patients".into(),
                    required: true,
                }],
                drop: vec!["/notes".into()],
                updated_unix_ms: 0,
            }),
        })
        .await
        .unwrap();
    admin
        .admin()
        .define_sharing_agreement(pb::DefineSharingAgreementRequest {
            agreement: Some(pb::SharingAgreement {
                name: "quality-registry".into(),
                from_domain: "patients".into(),
                to_domain: "statistics".into(),
                purpose: "research".into(),
                recipient: "National quality registry <Stockholm>".into(),
                legal_basis: "Art. 9(2)(j) & ethics approval 2026-1234".into(),
                valid_until_unix_ms: T0_MS + 365 * 86_400_000,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let tok = server.client(&t.tokenizer).await;
    pseudonymise_ok(&tok, "patients", &PATIENTS).await;
    pseudonymise_ok(&tok, "statistics", &PATIENTS[..2]).await;
    pseudonymise_ok(
        &tok,
        "visits",
        &["visit-1", "visit-2", "visit-3", "visit-4"],
    )
    .await;
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .grant_consent(pb::GrantConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier(PATIENTS[0].into())),
            }),
            purpose: "research".into(),
            text_version: 1,
            method: pb::ConsentMethod::Bankid.into(),
            channel: "patient-portal".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    t
}

fn valvctl(server: &InProcess, token: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(VALVCTL)
        .args(args)
        .env("VALV_ADDR", &server.addr)
        .env("VALV_CA", server.dir.path().join("data/tls/ca.pem"))
        .env("VALV_TOKEN", token)
        .env_remove("VALV_TOKEN_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "valvctl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_tenant_s_record_matches_its_golden_files() {
    // A root key file in both CI passes: the page names where the key lives.
    let server = start_configured(|c| c.root = RootConfig::File(None), None).await;
    let t = hospital(&server).await;
    let mut mismatches = Vec::new();
    // Each read is audited, so the entry count in each page is one more than in the last.
    for (token, format, file) in [
        (&t.admin, "md", "record-of-processing.md"),
        (&t.auditor, "html", "record-of-processing.html"),
        (&t.admin, "json", "record-of-processing.json"),
    ] {
        let page = valvctl(
            &server,
            token,
            &["tenant", "record-of-processing", "--format", format],
        );
        let path = golden(file);
        if std::env::var_os("VALV_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &page).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if page != expected {
            mismatches.push(format!(
                "{file} differs from {} (VALV_UPDATE_SNAPSHOTS=1 writes it); got:\n{page}",
                path.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // No identifier is in the record.
    let page = valvctl(
        &server,
        &t.admin,
        &["tenant", "record-of-processing", "--format", "json"],
    );
    for id in PATIENTS {
        assert!(!page.contains(id) && !page.contains(&id.replace('-', "")));
    }
    // Anyone else is told which roles may read it.
    let refused = server
        .client(&t.tokenizer)
        .await
        .admin()
        .get_record_of_processing(pb::GetRecordOfProcessingRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert_eq!(refused.message(), "role tenant-admin or auditor required");
    server.stop().await;
}
