//! `valv store migrate`: a data directory filled through the vault's features moves to
//! PostgreSQL and back; after each move every pseudonym re-identifies as before, consents and
//! restrictions hold, and every audit chain verifies with its checkpoints. Skipped (with a
//! notice) without `VALV_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use valv_e2e::{
    ChildServer, Valv, grant, pb, principal_token, pseudonymise_ok, reidentify, setup_tenant,
    spawn_with,
};

use valv_e2e::cluster::copy_root_key;

use super::keys::watch;

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

fn migrate(from: &str, to: &str) -> String {
    let out = Command::new(BIN)
        .args(["store", "migrate", "--from", from, "--to", to])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the target matches the source"), "{stdout}");
    stdout
}

fn subject(domain: &str, p: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: domain.into(),
        by: Some(pb::subject_ref::By::Pseudonym(p.into())),
    })
}

/// What the filled vault must answer after every move.
struct Expected {
    pairs: Vec<(String, String, String)>,
    research: Vec<(String, pb::Verdict)>,
}

async fn check(server: &ChildServer, t: &valv_e2e::Tenant, want: &Expected) {
    let re = server.client(&t.reidentifier).await;
    for (domain, id, p) in &want.pairs {
        let got = reidentify(&re, domain, "care", std::slice::from_ref(p))
            .await
            .unwrap();
        let expected = match id.as_str() {
            "k-2" => (pb::Verdict::Restricted, String::new()),
            "k-3" => (pb::Verdict::NotFound, String::new()),
            _ => (pb::Verdict::Released, id.clone()),
        };
        assert_eq!(got[0], expected, "{domain} {id}");
    }
    for (p, verdict) in &want.research {
        let got = reidentify(&re, "k", "research", std::slice::from_ref(p))
            .await
            .unwrap();
        assert_eq!(got[0].0, *verdict);
    }
    let auditor = server.client(&t.auditor).await;
    let v = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(v.ok && v.checkpoints > 0 && v.entries > 20, "{v:?}");
}

/// Fills a vault through its features; returns the tenant's principals and what to expect.
async fn fill(server: &ChildServer) -> (valv_e2e::Tenant, Expected) {
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "moving",
        &[
            ("k", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            ("r", pb::IdentifierKind::Email, pb::Scheme::Random, true),
            (
                "f",
                pb::IdentifierKind::DkCpr,
                pb::Scheme::FormatPreserving,
                true,
            ),
        ],
        &[
            ("research", pb::LegalBasis::Consent),
            ("care", pb::LegalBasis::Contract),
        ],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let mut pairs = Vec::new();
    for (domain, ids) in [
        ("k", (0..40).map(|i| format!("k-{i}")).collect::<Vec<_>>()),
        ("r", (0..40).map(|i| format!("p{i}@example.se")).collect()),
        (
            "f",
            (0..40)
                .map(|i| format!("0101{:02}{i:04}", 50 + i))
                .collect(),
        ),
    ] {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ps = pseudonymise_ok(&tok, domain, &refs).await;
        pairs.extend(
            ids.into_iter()
                .zip(ps)
                .map(|(i, p)| (domain.to_owned(), i, p)),
        );
    }
    let k = |i: usize| pairs[i].2.clone();
    let cm = server.client(&t.consent_manager).await;
    for id in ["k-0", "k-1"] {
        cm.consents()
            .grant_consent(grant("k", id, "research", 2, 0))
            .await
            .unwrap();
    }
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("k", &k(1)),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    let admin = server.client(&t.admin).await;
    let so = server
        .client(&principal_token(&admin, "so", pb::Role::SubjectOfficer).await)
        .await;
    so.subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: subject("k", &k(2)),
            reason: "contested".into(),
        })
        .await
        .unwrap();
    so.subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: subject("k", &k(3)),
        })
        .await
        .unwrap();
    // A key rotation to its end: a job, two key versions, use counts.
    let ko: Valv = server.client(&t.key_officer).await;
    let rotated = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let (end, _) = watch(&ko, rotated.job_id).await;
    assert_eq!(end.state(), pb::JobState::Done);
    let research = vec![
        (k(0), pb::Verdict::Released),
        (k(1), pb::Verdict::ConsentWithdrawn),
        (k(4), pb::Verdict::NoConsent),
    ];
    (t, Expected { pairs, research })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_dir_moves_to_postgresql_and_back_and_serves_as_before() {
    valv_e2e::init();
    let Some(schema) = valv::store::postgres::testing::TestSchema::create("store migrate").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let checkpoints = ["--audit-checkpoint-entries", "5"];
    let server = spawn_with(BIN, &data, &log, &checkpoints);
    let (t, want) = fill(&server).await;
    check(&server, &t, &want).await;
    server.terminate();

    // To PostgreSQL (twice: the second run finds nothing missing), then served from there.
    let url = schema.url();
    let first = migrate(data.to_str().unwrap(), &url);
    assert_eq!(first, migrate(data.to_str().unwrap(), &url));
    assert!(
        first.contains("mappings") && first.contains("audit chain"),
        "{first}"
    );
    let mut args = vec!["--store", url.as_str()];
    args.extend(checkpoints);
    let on_pg = spawn_with(BIN, &data, &log, &args);
    check(&on_pg, &t, &want).await;
    // New work on PostgreSQL gets fresh ids and continues the chains.
    let tok = on_pg.client(&t.tokenizer).await;
    let late = pseudonymise_ok(&tok, "k", &["k-late"]).await;
    // The format-preserving serial counter came along: a new person's pseudonym is none of the
    // pseudonyms handed out before the move.
    let fresh = pseudonymise_ok(&tok, "f", &["0202501234"]).await;
    assert!(
        want.pairs.iter().all(|(_, _, p)| *p != fresh[0]),
        "a serial was handed out twice"
    );
    on_pg.terminate();

    // And back into a new data directory with the same root key.
    let back = dir.path().join("back");
    copy_root_key(&data, &back);
    migrate(&url, back.to_str().unwrap());
    let log2 = dir.path().join("back.log");
    let again = spawn_with(BIN, &back, &log2, &checkpoints);
    let mut want = want;
    want.pairs
        .push(("k".into(), "k-late".into(), late[0].clone()));
    let re = again.client(&t.reidentifier).await;
    assert_eq!(
        reidentify(&re, "k", "care", &late).await.unwrap()[0],
        (pb::Verdict::Released, "k-late".to_owned())
    );
    check(&again, &t, &want).await;
    again.terminate();
}
