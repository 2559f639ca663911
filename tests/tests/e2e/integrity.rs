//! Authenticated rows: whoever can write the store files (or a backup) but does not hold the
//! root key cannot add a principal, give one a role, or loosen a purpose. Rows changed in the
//! raw store of a stopped server are refused with a clear error, counted in a metric and audited
//! — and restarting does not make them valid.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use sha2::{Digest, Sha256};
use tonic::Code;
use valv_client::pb;
use valv_e2e::{ChildServer, audit_key, http_get, init, pseudonymise_ok, setup_tenant, spawn_with};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

fn start(data: &std::path::Path, log: &std::path::Path) -> ChildServer {
    spawn_with(BIN, data, log, &["--metrics-listen", "127.0.0.1:0"])
}

fn id_of(token: &str) -> String {
    token.split('_').nth(1).unwrap().to_owned()
}

/// Rewrites the JSON row `key` of the stopped server's registry with `edit`.
fn edit_row(meta: &sled::Tree, key: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let raw = meta
        .get(key)
        .unwrap()
        .unwrap_or_else(|| panic!("no row {key}"));
    let mut row: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    edit(&mut row);
    meta.insert(key, serde_json::to_vec(&row).unwrap()).unwrap();
}

/// The tenant's audit entries, and the targets of those that record a refused row.
async fn audited_refusals(
    server: &ChildServer,
    t: &valv_e2e::Tenant,
) -> (Vec<pb::AuditEntry>, Vec<String>) {
    let (entries, _) = valv_e2e::read_audit(
        &server.client(&t.auditor).await,
        pb::ReadAuditRequest::default(),
    )
    .await;
    let refused = entries
        .iter()
        .filter(|e| e.action == "integrity.refused")
        .flat_map(|e| e.items.iter().map(|i| i.target.clone()))
        .collect();
    (entries, refused)
}

/// A server with tenant `clinic`: a reversible keyed domain `patients`, a consent-based purpose
/// `research`, and one principal per role.
async fn clinic() -> (tempfile::TempDir, ChildServer, valv_e2e::Tenant) {
    init();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), &dir.path().join("valv.log"));
    let operator = server.client(&server.operator_token).await;
    let domain = (
        "patients",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        true,
    );
    let t = setup_tenant(
        &operator,
        "clinic",
        &[domain],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    (dir, server, t)
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_changed_in_the_raw_store_are_refused_counted_and_audited() {
    let (dir, server, t) = clinic().await;
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let tenant = audit_key(&server.client(&t.auditor).await).await.chain;
    let ps = pseudonymise_ok(&server.client(&t.tokenizer).await, "patients", &["p-1"]).await;
    server.terminate();

    // The attacker's secret for a principal of their own.
    let secret = "a".repeat(52);
    let forged_id = "ffffffffffffffff";
    {
        let db = sled::open(data.join("store")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        // A role added to an existing principal.
        edit_row(&meta, &format!("principal/{}", id_of(&t.tokenizer)), |p| {
            p["roles"]
                .as_array_mut()
                .unwrap()
                .push("key-officer".into());
        });
        // A principal added, with a token the attacker knows, copied from a real row.
        let mut forged: serde_json::Value = serde_json::from_slice(
            &meta
                .get(format!("principal/{}", id_of(&t.auditor)))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        forged["id"] = forged_id.into();
        forged["roles"] = serde_json::json!(["tenant-admin"]);
        forged["token_sha256"] = hex::encode(Sha256::digest(secret.as_bytes())).into();
        meta.insert(
            format!("principal/{forged_id}"),
            serde_json::to_vec(&forged).unwrap(),
        )
        .unwrap();
        // A consent-based purpose turned into one that needs no consent, its MAC removed.
        edit_row(&meta, &format!("purpose/{tenant}/research"), |p| {
            p["legal_basis"] = "legitimate-interests".into();
            p.as_object_mut().unwrap().remove("mac");
        });
        db.flush().unwrap();
    }

    for round in 0..2 {
        // Restarting does not seal what was changed.
        let server = start(&data, &log);
        let tok = server.client(&t.tokenizer).await;
        let refused = tok
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain: "patients".into(),
                identifiers: vec!["p-2".into()],
                batch_id: 0,
            })
            .await
            .err()
            .unwrap();
        assert_eq!(refused.code(), Code::Unauthenticated, "round {round}");
        assert!(refused.message().contains("integrity check"), "{refused:?}");
        let forged = server
            .client(&format!("valv_{forged_id}_{secret}"))
            .await
            .admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .err()
            .map(|s| s.code());
        assert_eq!(forged, Some(Code::Unauthenticated));
        let purpose = server
            .client(&t.reidentifier)
            .await
            .pseudonyms()
            .re_identify(pb::ReIdentifyRequest {
                domain: "patients".into(),
                purpose: "research".into(),
                pseudonyms: ps.clone(),
            })
            .await
            .err()
            .unwrap();
        assert_eq!(purpose.code(), Code::DataLoss, "{purpose:?}");
        assert!(
            purpose.message().contains("purpose research"),
            "{purpose:?}"
        );
        // Untouched rows keep working.
        let consents = server
            .client(&t.consent_manager)
            .await
            .consents()
            .list_consents(pb::ListConsentsRequest::default())
            .await;
        assert!(consents.is_ok(), "{consents:?}");
        let metrics = http_get(server.metrics_addr.unwrap(), "/metrics").await;
        assert!(
            metrics.contains("valv_integrity_failures_total{kind=\"principal\"} 2"),
            "{metrics}"
        );
        assert!(metrics.contains("valv_integrity_failures_total{kind=\"purpose\"} 1"));
        let (_, refused) = audited_refusals(&server, &t).await;
        let expect_at_least = |target: String| {
            assert!(
                refused.contains(&target),
                "{target} not audited: {refused:?}"
            );
        };
        expect_at_least(format!("principal:{}", id_of(&t.tokenizer)));
        expect_at_least(format!("principal:{forged_id}"));
        expect_at_least("purpose:research".to_owned());
        server.terminate();
    }
}

/// A mapping's subject handle decides whose consent and restriction apply: swapped in the raw
/// store (so a person without consent borrows another's), the row no longer decrypts, and
/// nothing is released.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_given_another_subject_releases_nothing() {
    let (dir, server, t) = clinic().await;
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let ps = pseudonymise_ok(
        &server.client(&t.tokenizer).await,
        "patients",
        &["consented", "not-consented"],
    )
    .await;
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .grant_consent(valv_e2e::grant("patients", "consented", "research", 1, 0))
        .await
        .unwrap();
    let re = server.client(&t.reidentifier).await;
    let before = valv_e2e::reidentify(&re, "patients", "research", &ps)
        .await
        .unwrap();
    assert_eq!(
        before.iter().map(|v| v.0).collect::<Vec<_>>(),
        [pb::Verdict::Released, pb::Verdict::NoConsent]
    );
    server.terminate();
    {
        // Both mapping rows (0x02 | epoch | subject[16] | …): the second gets the first's subject.
        let db = sled::open(data.join("store")).unwrap();
        let rows = db.open_tree("data").unwrap();
        let mappings: Vec<(sled::IVec, sled::IVec)> = rows
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, v)| v.len() > 30 && v[0] == 2 && v[29] == 1)
            .collect();
        assert_eq!(mappings.len(), 2);
        let subjects: Vec<Vec<u8>> = mappings.iter().map(|(_, v)| v[5..21].to_vec()).collect();
        assert_ne!(subjects[0], subjects[1]);
        for (i, (key, value)) in mappings.iter().enumerate() {
            let mut v = value.to_vec();
            v[5..21].copy_from_slice(&subjects[1 - i]);
            rows.insert(key, v).unwrap();
        }
        db.flush().unwrap();
    }
    let server = start(&data, &log);
    let re = server.client(&t.reidentifier).await;
    let ask = |p: String| {
        let re = re.clone();
        async move {
            re.pseudonyms()
                .re_identify(pb::ReIdentifyRequest {
                    domain: "patients".into(),
                    purpose: "research".into(),
                    pseudonyms: vec![p],
                })
                .await
        }
    };
    // The consented person's row now names the other subject: no consent, refused before any
    // decryption.
    let first = ask(ps[0].clone()).await.unwrap().into_inner();
    assert_eq!(first.results[0].verdict(), pb::Verdict::NoConsent);
    assert!(first.results[0].identifier.is_empty());
    // The other person's row now names the consented subject and would be released — but it
    // does not decrypt with that subject.
    let second = ask(ps[1].clone()).await.err().unwrap();
    assert_eq!(second.code(), Code::DataLoss, "{second:?}");
    assert!(
        second.message().contains("nothing was released"),
        "{second:?}"
    );
    let metrics = http_get(server.metrics_addr.unwrap(), "/metrics").await;
    assert!(
        metrics.contains("valv_integrity_failures_total{kind=\"mapping\"} 1"),
        "{metrics}"
    );
    server.terminate();
}

/// A mapping's epoch and expiry decide whether it still releases: moved in the raw store (an old
/// epoch's row relabelled as current after its grace ended, an expiry pushed past the domain's
/// retention), the row no longer decrypts, and nothing is released.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_moved_to_another_epoch_or_expiry_releases_nothing() {
    let (dir, server, t) = clinic().await;
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    valv_e2e::create_domain(
        &server.client(&t.admin).await,
        "visits",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        true,
        30 * 86_400,
    )
    .await
    .unwrap();
    let tok = server.client(&t.tokenizer).await;
    let old = pseudonymise_ok(&tok, "patients", &["anna"]).await;
    let visit = pseudonymise_ok(&tok, "visits", &["anna"]).await;
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .grant_consent(valv_e2e::grant("patients", "anna", "research", 1, 0))
        .await
        .unwrap();
    let re = server.client(&t.reidentifier).await;
    let released = (pb::Verdict::Released, "anna".to_owned());
    for (domain, p) in [("patients", &old), ("visits", &visit)] {
        let back = valv_e2e::reidentify(&re, domain, "research", p).await;
        assert_eq!(back.unwrap(), vec![released.clone()], "{domain}");
    }
    // A new epoch, its grace ended at once: the old pseudonym names nobody any more.
    let ko = server.client(&t.key_officer).await;
    ko.keys()
        .rotate_domain_epoch(pb::RotateDomainEpochRequest {
            domain: "patients".into(),
            grace_seconds: 0,
        })
        .await
        .unwrap();
    ko.keys()
        .finalize_epoch(pb::FinalizeEpochRequest {
            domain: "patients".into(),
        })
        .await
        .unwrap();
    let gone = valv_e2e::reidentify(&re, "patients", "research", &old).await;
    assert_eq!(gone.unwrap()[0].0, pb::Verdict::NotFound);
    server.terminate();
    {
        // Mapping rows: 0x02 | epoch u32 | subject[16] | created u32 | expires u32 | 1 | ct.
        let db = sled::open(data.join("store")).unwrap();
        let rows = db.open_tree("data").unwrap();
        let mappings: Vec<(sled::IVec, Vec<u8>)> = rows
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, v)| v.len() > 30 && v[0] == 2 && v[29] == 1)
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(mappings.len(), 2);
        for (key, mut v) in mappings {
            let expires = u32::from_be_bytes(v[25..29].try_into().unwrap());
            if expires == 0 {
                // The patients row, still in epoch 1: relabelled as epoch 2.
                assert_eq!(&v[1..5], &1u32.to_be_bytes());
                v[1..5].copy_from_slice(&2u32.to_be_bytes());
            } else {
                // The visit: kept a year longer than the domain's retention allows.
                v[25..29].copy_from_slice(&(expires + 365 * 86_400).to_be_bytes());
            }
            rows.insert(key, v).unwrap();
        }
        db.flush().unwrap();
    }
    let server = start(&data, &log);
    let re = server.client(&t.reidentifier).await;
    for (domain, p) in [("patients", &old), ("visits", &visit)] {
        let refused = valv_e2e::reidentify(&re, domain, "research", p)
            .await
            .err()
            .unwrap_or_else(|| panic!("{domain}: released"));
        assert_eq!(refused.code(), Code::DataLoss, "{domain}: {refused:?}");
        assert!(
            refused.message().contains("nothing was released")
                && !refused.message().contains("anna"),
            "{domain}: {refused:?}"
        );
    }
    let metrics = http_get(server.metrics_addr.unwrap(), "/metrics").await;
    assert!(
        metrics.contains("valv_integrity_failures_total{kind=\"mapping\"} 2"),
        "{metrics}"
    );
    let (_, refused) = audited_refusals(&server, &t).await;
    for p in [&old[0], &visit[0]] {
        assert!(
            refused.contains(&format!("mapping:{p}")),
            "{p} not audited: {refused:?}"
        );
    }
    server.terminate();
}

/// The consent rows of one subject's history of `purpose`, as (key, event) in sequence order.
fn history(
    consent: &sled::Tree,
    subject: &[u8],
    purpose: &str,
) -> Vec<(sled::IVec, serde_json::Value)> {
    consent
        .iter()
        .filter_map(Result::ok)
        .filter(|(k, _)| &k[8..24] == subject && k[24..].starts_with(purpose.as_bytes()))
        .map(|(k, v)| (k, serde_json::from_slice(&v).unwrap()))
        .collect()
}

/// A consent history decides by its order: the latest event is in force. An attacker with the
/// store files but not the root key swaps a grant and its withdrawal (sequence numbers mended
/// to match), or appends a copy of a genuine grant after a withdrawal. Each is refused with a
/// clear error, nothing is released, and it is counted and audited; untouched histories keep
/// working.
#[tokio::test(flavor = "multi_thread")]
async fn a_consent_event_forged_or_reordered_releases_nothing() {
    let (dir, server, t) = clinic().await;
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let ps = pseudonymise_ok(
        &server.client(&t.tokenizer).await,
        "patients",
        &["kept", "reordered", "forged"],
    )
    .await;
    let cm = server.client(&t.consent_manager).await;
    // The forged one's grant runs until 2100, which tells the test (not the attacker) which
    // history is which in the raw store.
    let until_2100 = 4_102_444_800_000;
    for (who, until) in [("kept", 0), ("reordered", 0), ("forged", until_2100)] {
        cm.consents()
            .grant_consent(valv_e2e::grant("patients", who, "research", 1, until))
            .await
            .unwrap();
    }
    for who in ["reordered", "forged"] {
        cm.consents()
            .withdraw_consent(pb::WithdrawConsentRequest {
                subject: Some(pb::SubjectRef {
                    domain: "patients".into(),
                    by: Some(pb::subject_ref::By::Identifier(who.into())),
                }),
                purpose: "research".into(),
            })
            .await
            .unwrap();
    }
    let re = server.client(&t.reidentifier).await;
    let verdicts = valv_e2e::reidentify(&re, "patients", "research", &ps)
        .await
        .unwrap();
    assert_eq!(
        verdicts.iter().map(|v| v.0).collect::<Vec<_>>(),
        [
            pb::Verdict::Released,
            pb::Verdict::ConsentWithdrawn,
            pb::Verdict::ConsentWithdrawn
        ]
    );
    server.terminate();

    let mut subjects = Vec::new();
    {
        let db = sled::open(data.join("store")).unwrap();
        let consent = db.open_tree("consent").unwrap();
        // Histories with two events: the withdrawn ones.
        let mut two: Vec<Vec<u8>> = consent
            .iter()
            .filter_map(Result::ok)
            .map(|(k, _)| k[8..24].to_vec())
            .collect();
        two.dedup();
        two.retain(|s| history(&consent, s, "research").len() == 2);
        assert_eq!(two.len(), 2);
        for s in &two {
            let h = history(&consent, s, "research");
            assert!(
                h.iter()
                    .all(|(_, e)| e["mac"].as_str().is_some_and(|m| m.len() == 64))
            );
        }
        two.sort_by_key(|s| history(&consent, s, "research")[0].1["valid_until_ms"] == until_2100);
        let (reordered, forged) = (&two[0], &two[1]);
        // Reordered: the grant moved after the withdrawal, each keeping the number of its row.
        let h = history(&consent, reordered, "research");
        let (mut grant, mut withdrawal) = (h[0].1.clone(), h[1].1.clone());
        grant["seq"] = 2.into();
        withdrawal["seq"] = 1.into();
        consent
            .insert(&h[0].0, serde_json::to_vec(&withdrawal).unwrap())
            .unwrap();
        consent
            .insert(&h[1].0, serde_json::to_vec(&grant).unwrap())
            .unwrap();
        // Forged: the genuine grant copied after the withdrawal as event 3.
        let h = history(&consent, forged, "research");
        let mut copy = h[0].1.clone();
        copy["seq"] = 3.into();
        let mut key = h[1].0.to_vec();
        let n = key.len();
        key[n - 8..].copy_from_slice(&3u64.to_be_bytes());
        consent
            .insert(key, serde_json::to_vec(&copy).unwrap())
            .unwrap();
        db.flush().unwrap();
        subjects.extend([hex::encode(reordered), hex::encode(forged)]);
    }

    let server = start(&data, &log);
    let re = server.client(&t.reidentifier).await;
    for (i, (p, subject)) in [(&ps[1], &subjects[0]), (&ps[2], &subjects[1])]
        .into_iter()
        .enumerate()
    {
        let refused = valv_e2e::reidentify(&re, "patients", "research", std::slice::from_ref(p))
            .await
            .err()
            .unwrap();
        assert_eq!(refused.code(), Code::DataLoss, "{i}: {refused:?}");
        assert!(
            refused
                .message()
                .contains(&format!("consent-event subject:{subject}/research/")),
            "{refused:?}"
        );
        assert!(
            refused.message().contains("nothing was released"),
            "{refused:?}"
        );
    }
    // A batch with a tampered history among good ones releases nothing at all.
    let batch = valv_e2e::reidentify(&re, "patients", "research", &ps).await;
    assert_eq!(batch.err().map(|s| s.code()), Some(Code::DataLoss));
    // Untouched: still released.
    let kept = valv_e2e::reidentify(&re, "patients", "research", &ps[..1])
        .await
        .unwrap();
    assert_eq!(kept[0].0, pb::Verdict::Released);
    // The consent desk is refused the tampered history too.
    let history = server
        .client(&t.consent_manager)
        .await
        .consents()
        .get_consent_history(pb::GetConsentHistoryRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("reordered".into())),
            }),
            purpose: String::new(),
        })
        .await;
    assert_eq!(history.err().map(|s| s.code()), Some(Code::DataLoss));
    let metrics = http_get(server.metrics_addr.unwrap(), "/metrics").await;
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("valv_integrity_failures_total{kind=\"consent-event\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let counted: u64 = failures.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(counted >= 4, "{failures}");
    let (_, refused) = audited_refusals(&server, &t).await;
    for s in &subjects {
        assert!(
            refused
                .iter()
                .any(|r| r.starts_with(&format!("consent-event:subject:{s}/research/"))),
            "{s} not audited: {refused:?}"
        );
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    for who in ["\"kept\"", "reordered\"", "forged\""] {
        assert!(!log_text.contains(who), "{who} in the log");
    }
    server.terminate();
}

fn named(who: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: "patients".into(),
        by: Some(pb::subject_ref::By::Identifier(who.into())),
    })
}

/// A restriction decides that a person is not re-identified, a tombstone that an erased person
/// comes back under new pseudonyms. Moved to another subject in the raw store (lifting the
/// real one's restriction), or with its tweak changed, each is refused: the restricted person
/// stays unreleased, and the change is counted and audited.
#[tokio::test(flavor = "multi_thread")]
async fn a_restriction_or_tombstone_changed_in_the_store_is_refused() {
    let (dir, server, t) = clinic().await;
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let tenant = audit_key(&server.client(&t.auditor).await).await.chain;
    let tok = server.client(&t.tokenizer).await;
    let ps = pseudonymise_ok(&tok, "patients", &["restricted", "erased"]).await;
    let cm = server.client(&t.consent_manager).await;
    cm.consents()
        .grant_consent(valv_e2e::grant("patients", "restricted", "research", 1, 0))
        .await
        .unwrap();
    let admin = server.client(&t.admin).await;
    let officer = server
        .client(&valv_e2e::principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await)
        .await;
    officer
        .subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: named("restricted"),
            reason: "complaint".into(),
        })
        .await
        .unwrap();
    officer
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: named("erased"),
        })
        .await
        .unwrap();
    let re = server.client(&t.reidentifier).await;
    let before = valv_e2e::reidentify(&re, "patients", "research", &ps[..1])
        .await
        .unwrap();
    assert_eq!(before[0].0, pb::Verdict::Restricted);
    server.terminate();

    let (restricted_subject, erased_subject);
    {
        let db = sled::open(data.join("store")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        let only = |prefix: String| {
            let rows: Vec<(sled::IVec, sled::IVec)> =
                meta.scan_prefix(prefix).filter_map(Result::ok).collect();
            assert_eq!(rows.len(), 1);
            let row: serde_json::Value = serde_json::from_slice(&rows[0].1).unwrap();
            assert!(row["mac"].as_str().is_some_and(|m| m.len() == 64), "{row}");
            (rows[0].0.clone(), row)
        };
        // The restriction moved to a subject nobody has: the real one is lifted.
        let (key, mut row) = only(format!("restrict/{tenant}/"));
        restricted_subject = row["subject"].as_str().unwrap().to_owned();
        let elsewhere = "ab".repeat(16);
        row["subject"] = elsewhere.clone().into();
        meta.remove(&key).unwrap();
        meta.insert(
            format!("restrict/{tenant}/{elsewhere}"),
            serde_json::to_vec(&row).unwrap(),
        )
        .unwrap();
        // The tombstone's tweak replaced by zeros: the old pseudonyms would come back.
        let (key, mut row) = only(format!("tomb/{tenant}/"));
        erased_subject = row["subject"].as_str().unwrap().to_owned();
        row["tweak"] = "00".repeat(16).into();
        meta.insert(&key, serde_json::to_vec(&row).unwrap())
            .unwrap();
        db.flush().unwrap();
    }

    let server = start(&data, &log);
    let re = server.client(&t.reidentifier).await;
    let refused = valv_e2e::reidentify(&re, "patients", "research", &ps[..1])
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
    assert!(refused.message().contains("restriction "), "{refused:?}");
    assert!(
        refused.message().contains("nothing was released"),
        "{refused:?}"
    );
    let tok = server.client(&t.tokenizer).await;
    let refused = tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "patients".into(),
            identifiers: vec!["erased".into()],
            batch_id: 0,
        })
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
    assert!(
        refused
            .message()
            .contains(&format!("tombstone {erased_subject}")),
        "{refused:?}"
    );
    let metrics = http_get(server.metrics_addr.unwrap(), "/metrics").await;
    assert!(
        metrics.contains("valv_integrity_failures_total{kind=\"restriction\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("valv_integrity_failures_total{kind=\"tombstone\"}"));
    let (entries, refused) = audited_refusals(&server, &t).await;
    assert!(
        refused.contains(&format!("restriction:{}", "ab".repeat(16))),
        "{refused:?}"
    );
    assert!(refused.contains(&format!("tombstone:{erased_subject}")));
    // The moved restriction's subject stays in the audit as restricted.
    assert!(
        entries
            .iter()
            .any(|e| e.action == "subject.restrict" && e.subject == restricted_subject)
    );
    server.terminate();
}
