//! Requests from data subjects: restriction (`restricted` verdict until lifted), the access
//! request (every pseudonym, consent with its text, audit entry about the subject), erasure in
//! every domain with a tombstone, and erase-on-withdrawal — checked through the API and, after
//! the server stops, in the raw sled store.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv_e2e::{Valv, pb, pseudonymise_ok, reidentify, setup_tenant, start};

const X: &str = "19800101-1231";
const Y: &str = "19520903-5525";
const Z: &str = "19950505-3216";

fn subject(domain: &str, identifier: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: domain.into(),
        by: Some(pb::subject_ref::By::Identifier(identifier.into())),
    })
}

async fn verdicts(re: &Valv, domain: &str, purpose: &str, ps: &[String]) -> Vec<pb::Verdict> {
    reidentify(re, domain, purpose, ps)
        .await
        .unwrap()
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn restrict_export_erase_and_erase_on_withdrawal() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let kind = pb::IdentifierKind::SePersonnummer;
    let t = setup_tenant(
        &operator,
        "hospital",
        &[
            ("patients", kind, pb::Scheme::Keyed, true),
            ("lab", kind, pb::Scheme::Random, true),
            ("registry", kind, pb::Scheme::Random, true),
            ("mail", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
        ],
        &[
            ("care", pb::LegalBasis::Contract),
            ("research", pb::LegalBasis::Consent),
        ],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let cm = server.client(&t.consent_manager).await;
    let officer_token =
        valv_e2e::principal_token(&admin, "dpo-desk", pb::Role::SubjectOfficer).await;
    let officer = server.client(&officer_token).await;

    let x_patients = pseudonymise_ok(&tok, "patients", &[X, Y]).await;
    let x_lab = pseudonymise_ok(&tok, "lab", &[X]).await;
    let x_registry = pseudonymise_ok(&tok, "registry", &[X]).await;
    pseudonymise_ok(&tok, "mail", &["x@example.se"]).await;
    cm.consents()
        .grant_consent(pb::GrantConsentRequest {
            subject: subject("patients", X),
            purpose: "research".into(),
            text_version: 2,
            method: pb::ConsentMethod::Bankid.into(),
            evidence: b"BankID order 77aa".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        verdicts(&re, "patients", "care", &x_patients).await,
        [pb::Verdict::Released, pb::Verdict::Released]
    );

    // Restriction: X only, at once, until lifted. Named by pseudonym of a reversible domain.
    let restricted = officer
        .subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "lab".into(),
                by: Some(pb::subject_ref::By::Pseudonym(x_lab[0].clone())),
            }),
            reason: "accuracy contested".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(restricted.subject_ref.starts_with("subject:"));
    assert_eq!(
        verdicts(&re, "patients", "care", &x_patients).await,
        [pb::Verdict::Restricted, pb::Verdict::Released]
    );
    assert_eq!(
        verdicts(&re, "registry", "care", &x_registry).await,
        [pb::Verdict::Restricted]
    );
    // The tokenizer, a consent manager and the admin cannot restrict or lift.
    let denied = tok
        .subjects()
        .lift_restriction(pb::LiftRestrictionRequest {
            subject: subject("patients", X),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(denied, Some(Code::PermissionDenied));
    let lifted = officer
        .subjects()
        .lift_restriction(pb::LiftRestrictionRequest {
            subject: subject("patients", X),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(lifted.lifted);
    assert_eq!(
        verdicts(&re, "patients", "care", &x_patients[..1]).await,
        [pb::Verdict::Released]
    );

    // The access request: three domains, the consent with its text, the re-identifications.
    let export = |officer: Valv| async move {
        let doc = officer
            .subjects()
            .export_subject(pb::ExportSubjectRequest {
                subject: subject("patients", X),
            })
            .await
            .unwrap()
            .into_inner()
            .document;
        let parsed: serde_json::Value =
            serde_json::from_str(&doc).unwrap_or(serde_json::Value::Null);
        (doc, parsed)
    };
    let (doc, parsed) = export(officer.clone()).await;
    assert_eq!(parsed["format"], "valv-subject-export/1");
    let mut held: Vec<(String, String)> = parsed["pseudonyms"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["domain"].as_str().unwrap_or("").to_owned(),
                        p["pseudonym"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    held.sort();
    assert_eq!(
        held,
        [
            ("lab".to_owned(), x_lab[0].clone()),
            ("patients".to_owned(), x_patients[0].clone()),
            ("registry".to_owned(), x_registry[0].clone()),
        ]
    );
    let consent = &parsed["consents"][0];
    assert_eq!(consent["purpose"], "research");
    assert_eq!(consent["status"], "granted");
    assert_eq!(consent["events"][0]["text_version"], 2);
    assert!(
        consent["events"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Consent text 2 of research"))
    );
    assert_eq!(consent["events"][0]["evidence_bytes"], 17);
    let audit = parsed["audit"].as_array().cloned().unwrap_or_default();
    let reids = audit.iter().filter(|e| e["action"] == "reidentify").count();
    assert_eq!(reids, 4, "{doc}");
    assert!(audit.iter().any(|e| e["action"] == "subject.restrict"));
    assert!(audit.iter().any(|e| e["action"] == "consent.grant"));
    assert!(
        !doc.contains("19800101") && !doc.contains("8001011231") && !doc.contains("BankID order")
    );
    // Y's pseudonym is not in X's export.
    assert!(!doc.contains(&x_patients[1]));

    // Erasure, named by identifier: every domain of the kind, consents, evidence.
    let tomb = officer
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: subject("patients", X),
        })
        .await
        .unwrap()
        .into_inner()
        .tombstone
        .unwrap_or_default();
    assert_eq!(
        (tomb.mappings, tomb.consent_events, tomb.evidence),
        (3, 1, 1)
    );
    for (domain, ps) in [
        ("patients", &x_patients[..1]),
        ("lab", &x_lab[..]),
        ("registry", &x_registry[..]),
    ] {
        assert_eq!(
            verdicts(&re, domain, "care", ps).await,
            [pb::Verdict::NotFound],
            "{domain}"
        );
    }
    assert_eq!(
        verdicts(&re, "patients", "care", &x_patients[1..]).await,
        [pb::Verdict::Released]
    );
    let (after, parsed) = export(officer.clone()).await;
    // Nothing is held any more: only the tombstone (and the audit of what happened).
    assert_eq!(parsed["pseudonyms"], serde_json::json!([]), "{after}");
    assert_eq!(parsed["consents"], serde_json::json!([]), "{after}");
    assert_eq!(parsed["restriction"], serde_json::Value::Null, "{after}");
    assert_eq!(parsed["erased"]["mappings"], 3);
    assert_eq!(
        parsed["erased"]["subject_ref"],
        restricted.subject_ref.as_str()
    );
    let history = cm
        .consents()
        .get_consent_history(pb::GetConsentHistoryRequest {
            subject: subject("patients", X),
            purpose: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(history.purposes.is_empty());
    // Pseudonymised again, X gets a new mapping under a new pseudonym: the erased one stays
    // unlinked (see `an_erased_subject_comes_back_under_new_pseudonyms_in_every_scheme`).
    let again = pseudonymise_ok(&tok, "patients", &[X]).await;
    assert_ne!(again[0], x_patients[0]);
    assert_eq!(
        verdicts(&re, "patients", "care", &again).await,
        [pb::Verdict::Released]
    );

    // Erase on withdrawal: withdrawing `trial` erases Z in the purpose's domains only.
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "trial".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 1,
            domains: vec!["patients".into()],
            erase_on_withdrawal: true,
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .admin()
        .add_consent_text(pb::AddConsentTextRequest {
            purpose: "trial".into(),
            text: "Trial consent".into(),
        })
        .await
        .unwrap();
    let z_patients = pseudonymise_ok(&tok, "patients", &[Z]).await;
    let z_lab = pseudonymise_ok(&tok, "lab", &[Z]).await;
    cm.consents()
        .grant_consent(pb::GrantConsentRequest {
            subject: subject("patients", Z),
            purpose: "trial".into(),
            text_version: 1,
            method: pb::ConsentMethod::Web.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("patients", Z),
            purpose: "trial".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        verdicts(&re, "patients", "care", &z_patients).await,
        [pb::Verdict::NotFound]
    );
    assert_eq!(
        verdicts(&re, "lab", "care", &z_lab).await,
        [pb::Verdict::Released]
    );
    valv_e2e::assert_log_lacks(&[
        "198001011231",
        "8001011231",
        "199505053216",
        "9505053216",
        "x@example.se",
    ]);
    let kept = server.stop_keeping_data().await;
    let data = kept.path().join("data");

    // The raw store: the live mapping rows are exactly Y's, X's new one, Z's lab one and the
    // e-mail — nothing of X's erased rows; no consent row of X; one evidence row fewer.
    let db = sled::open(data.join("store")).unwrap();
    let tree = db.open_tree("data").unwrap();
    let rows = tree.scan_prefix(b"m").count();
    assert_eq!(rows, 4);
    let evidence = db.open_tree("evidence").map(|t| t.len()).unwrap_or(99);
    assert_eq!(evidence, 0);
}

/// Every mapping row's value in the raw store (the server must be stopped).
fn raw_rows(data: &std::path::Path) -> std::collections::HashSet<Vec<u8>> {
    let db = sled::open(data.join("store")).unwrap();
    let tree = db.open_tree("data").unwrap();
    tree.scan_prefix(b"m")
        .filter_map(Result::ok)
        .map(|(_, v)| v.to_vec())
        .collect()
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(all_bytes(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.extend(b);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_subject_leaves_no_trace_in_the_raw_store_files_after_compaction() {
    valv_e2e::init();
    const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = valv_e2e::spawn(BIN, &data, &log);
    let operator = server.client(&server.operator_token).await;
    let kind = pb::IdentifierKind::SePersonnummer;
    let t = setup_tenant(
        &operator,
        "raw",
        &[("patients", kind, pb::Scheme::Keyed, true)],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let y = pseudonymise_ok(&tok, "patients", &[Y]).await;
    let before_x = raw_rows_after(server, &data);
    let server = valv_e2e::spawn(BIN, &data, &log);
    let tok = server.client(&t.tokenizer).await;
    pseudonymise_ok(&tok, "patients", &[X]).await;
    let with_x = raw_rows_after(server, &data);
    let x_rows: Vec<Vec<u8>> = with_x.difference(&before_x).cloned().collect();
    assert_eq!(x_rows.len(), 1);
    let server = valv_e2e::spawn(BIN, &data, &log);
    let admin = server.client(&t.admin).await;
    let officer_token = valv_e2e::principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await;
    server
        .client(&officer_token)
        .await
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: subject("patients", X),
        })
        .await
        .unwrap();
    server.terminate();
    // The erasure asked for a compaction; until the next start the deleted ciphertext is still
    // in sled's append-only log …
    assert!(data.join("store.compact-wanted").exists());
    let ct = x_rows[0][x_rows[0].len() - 40..].to_vec();
    let present = |bytes: &[u8]| bytes.windows(ct.len()).any(|w| w == ct.as_slice());
    assert!(present(&all_bytes(&data)));
    // … and the start compacts the store: no file holds X's ciphertext or identifier any more,
    // and the live rows are exactly the others'.
    let server = valv_e2e::spawn(BIN, &data, &log);
    // Everything else survived the copy: Y re-identifies, the audit chain verifies.
    let re = server.client(&t.reidentifier).await;
    assert_eq!(
        verdicts(&re, "patients", "care", &y).await,
        [pb::Verdict::Released]
    );
    let verified = server
        .client(&t.auditor)
        .await
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    server.terminate();
    assert!(!data.join("store.compact-wanted").exists());
    let bytes = all_bytes(&data);
    assert!(
        !present(&bytes),
        "X's ciphertext is still in the store files"
    );
    assert!(!bytes.windows(12).any(|w| w == b"198001011231"));
    assert_eq!(raw_rows(&data), before_x);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("store compacted"));
}

fn raw_rows_after(
    server: valv_e2e::ChildServer,
    data: &std::path::Path,
) -> std::collections::HashSet<Vec<u8>> {
    server.terminate();
    raw_rows(data)
}

async fn events(client: &Valv, after_seq: u64) -> Vec<pb::SubjectEvent> {
    let mut stream = client
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest {
            after_seq,
            follow: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = stream.message().await.unwrap() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn downstream_systems_follow_subject_events_by_pseudonym_from_a_cursor() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let kind = pb::IdentifierKind::SePersonnummer;
    let t = setup_tenant(
        &operator,
        "events",
        &[
            ("patients", kind, pb::Scheme::Keyed, true),
            ("lab", kind, pb::Scheme::Random, true),
        ],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let tok = server.client(&t.tokenizer).await;
    let cm = server.client(&t.consent_manager).await;
    let officer_token = valv_e2e::principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await;
    let officer = server.client(&officer_token).await;
    let xp = pseudonymise_ok(&tok, "patients", &[X]).await;
    let xl = pseudonymise_ok(&tok, "lab", &[X]).await;
    let yp = pseudonymise_ok(&tok, "patients", &[Y]).await;
    let grant = |who: &'static str, until: i64| {
        let cm = cm.clone();
        async move {
            cm.consents()
                .grant_consent(pb::GrantConsentRequest {
                    subject: subject("patients", who),
                    purpose: "research".into(),
                    text_version: 1,
                    method: pb::ConsentMethod::Web.into(),
                    valid_until_unix_ms: until,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    };
    grant(X, valv_e2e::T0_MS + 3_600_000).await;
    officer
        .subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: subject("patients", X),
            reason: String::new(),
        })
        .await
        .unwrap();
    officer
        .subjects()
        .lift_restriction(pb::LiftRestrictionRequest {
            subject: subject("patients", X),
        })
        .await
        .unwrap();
    grant(Y, 0).await;
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("patients", Y),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    server.clock.advance_ms(3_600_000);
    officer
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: subject("patients", X),
        })
        .await
        .unwrap();

    use pb::SubjectEventKind as K;
    let all = events(&tok, 0).await;
    let seen: Vec<(K, String, String)> = all
        .iter()
        .map(|e| (e.kind(), e.domain.clone(), e.pseudonym.clone()))
        .collect();
    let p = |d: &str, s: &String| (d.to_owned(), s.clone());
    let expect = vec![
        (K::ConsentGranted, p("patients", &xp[0])),
        (K::Restricted, p("patients", &xp[0])),
        (K::Restricted, p("lab", &xl[0])),
        (K::RestrictionLifted, p("patients", &xp[0])),
        (K::RestrictionLifted, p("lab", &xl[0])),
        (K::ConsentGranted, p("patients", &yp[0])),
        (K::ConsentWithdrawn, p("patients", &yp[0])),
        (K::ConsentExpired, p("patients", &xp[0])),
        (K::Erased, p("patients", &xp[0])),
        (K::Erased, p("lab", &xl[0])),
    ];
    let mut sorted_seen = seen.clone();
    let mut sorted_expect: Vec<(K, String, String)> =
        expect.into_iter().map(|(k, (d, s))| (k, d, s)).collect();
    // Within one act the order of domains is the vault's; across acts it is the order of acts.
    let act = |k: &K| *k as i32;
    sorted_seen.sort_by_key(|(k, d, _)| (act(k), d.clone()));
    sorted_expect.sort_by_key(|(k, d, _)| (act(k), d.clone()));
    assert_eq!(sorted_seen, sorted_expect);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(all.iter().all(|e| e.subject_ref.starts_with("subject:")));
    assert_eq!(all[0].purpose, "research");
    let text = format!("{all:?}");
    assert!(!text.contains("19800101") && !text.contains("8001011231"));

    // Resume after a cursor: only what came later. Expiry is announced once.
    let rest = events(&cm, 7).await;
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [8, 9, 10]);
    assert_eq!(events(&officer, 10).await.len(), 0);

    // Following: a new act arrives on an open stream.
    let mut live = tok
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest {
            after_seq: 10,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    grant(Y, 0).await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), live.message())
        .await
        .unwrap_or_else(|_| panic!("no live event"))
        .unwrap()
        .unwrap_or_default();
    assert_eq!((next.seq, next.kind()), (11, K::ConsentGranted));
    assert_eq!(next.pseudonym, yp[0]);
    drop(live);

    // A re-identifier has no business here.
    let re = server.client(&t.reidentifier).await;
    let denied = re
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest::default())
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(denied, Some(Code::PermissionDenied));
    valv_e2e::assert_log_lacks(&[
        "198001011231",
        "8001011231",
        "199505053216",
        "9505053216",
        "x@example.se",
    ]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_subject_comes_back_under_new_pseudonyms_in_every_scheme() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let kind = pb::IdentifierKind::NoFodselsnummer;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[
            ("keyed", kind, pb::Scheme::Keyed, true),
            ("oneway", kind, pb::Scheme::Keyed, false),
            ("random", kind, pb::Scheme::Random, true),
            ("fpe", kind, pb::Scheme::FormatPreserving, true),
        ],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let officer = server
        .client(&valv_e2e::principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await)
        .await;
    let (person, other) = ("04110657264", "02019713906");
    let domains = ["keyed", "oneway", "random", "fpe"];
    let mut lives: Vec<Vec<String>> = Vec::new();
    let mut others = Vec::new();
    for life in 0..3 {
        let mut ps = Vec::new();
        for d in domains {
            let got = pseudonymise_ok(&tok, d, &[person, other]).await;
            // Twice in one life: the same pseudonym.
            assert_eq!(pseudonymise_ok(&tok, d, &[person]).await[0], got[0], "{d}");
            ps.push(got[0].clone());
            if life == 0 {
                others.push(got[1].clone());
            } else {
                assert_eq!(got[1], others[ps.len() - 1], "{d}: others keep theirs");
            }
        }
        for earlier in &lives {
            for (i, d) in domains.iter().enumerate() {
                assert_ne!(earlier[i], ps[i], "{d}: life {life} reuses a pseudonym");
            }
        }
        // Erased pseudonyms stay not-found; the current life's re-identify.
        for (i, d) in domains.iter().enumerate().filter(|(_, d)| **d != "oneway") {
            let mut ask: Vec<String> = lives.iter().map(|l| l[i].clone()).collect();
            ask.push(ps[i].clone());
            let v = verdicts(&re, d, "care", &ask).await;
            let mut want = vec![pb::Verdict::NotFound; lives.len()];
            want.push(pb::Verdict::Released);
            assert_eq!(v, want, "{d}");
        }
        if life > 0 {
            // The export shows the tombstone beside what the subject has now.
            let doc = officer
                .subjects()
                .export_subject(pb::ExportSubjectRequest {
                    subject: subject("keyed", person),
                })
                .await
                .unwrap()
                .into_inner()
                .document;
            let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap();
            assert!(parsed["erased"]["erased_at_ms"].is_i64(), "{doc}");
            let mut held: Vec<String> = parsed["pseudonyms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["pseudonym"].as_str().unwrap_or("").to_owned())
                .collect();
            held.sort();
            let mut want = vec![ps[0].clone(), ps[2].clone(), ps[3].clone()];
            want.sort();
            assert_eq!(held, want, "{doc}");
            let back: Vec<&serde_json::Value> = parsed["audit"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == "subject.recreate")
                .collect();
            // Once per domain and erasure (the second pseudonymise of a life is not a return).
            assert_eq!(back.len(), 4 * life, "{doc}");
        }
        lives.push(ps);
        officer
            .subjects()
            .erase_subject(pb::EraseSubjectRequest {
                subject: subject("keyed", person),
            })
            .await
            .unwrap();
    }
    valv_e2e::assert_log_lacks(&[person, other]);
    server.stop().await;
}
