//! Retention ("gallring"): mapping retention since creation and since last use, mappings bound
//! to a consent, consent evidence kept for a while after the consent ended — `PlanRetention`
//! lists what is due and when, and the reaper deletes exactly that (the clock is moved).

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use valv_e2e::{T0_MS, Valv, key_versions, pb, pseudonymise_ok, reidentify, setup_tenant, start};

const A: &str = "19800101-1231";
const B: &str = "19520903-5525";
const DAY: i64 = 86_400_000;

async fn domain(admin: &Valv, name: &str, days: u64, last_use: bool, bound: &str) {
    admin
        .admin()
        .create_domain(pb::CreateDomainRequest {
            name: name.into(),
            kind: pb::IdentifierKind::SePersonnummer.into(),
            scheme: if name == "tokens" {
                pb::Scheme::Random
            } else {
                pb::Scheme::Keyed
            }
            .into(),
            reversible: true,
            retention_seconds: days * 86_400,
            retention_since_last_use: last_use,
            consent_purpose: bound.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

async fn plan(client: &Valv, until: i64) -> Vec<(String, String, String, i64, String)> {
    let mut items: Vec<_> = client
        .retention()
        .plan_retention(pb::PlanRetentionRequest {
            until_unix_ms: until,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .items
        .into_iter()
        .map(|i| {
            (
                i.kind,
                i.domain_or_purpose,
                i.pseudonym_or_receipt,
                i.due_unix_ms,
                i.reason,
            )
        })
        .collect();
    items.sort();
    items
}

async fn verdict(re: &Valv, domain: &str, p: &str) -> pb::Verdict {
    reidentify(re, domain, "care", &[p.to_owned()])
        .await
        .unwrap()[0]
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reaper_deletes_exactly_what_the_plan_listed() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "gallring",
        &[],
        &[
            ("care", pb::LegalBasis::Contract),
            ("research", pb::LegalBasis::Consent),
        ],
    )
    .await;
    let admin = server.client(&t.admin).await;
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 1,
            evidence_retention_seconds: 86_400,
            ..Default::default()
        })
        .await
        .unwrap();
    domain(&admin, "short", 10, false, "").await;
    domain(&admin, "sliding", 10, true, "").await;
    domain(&admin, "bound", 0, false, "research").await;
    domain(&admin, "forever", 0, false, "").await;
    domain(&admin, "tokens", 10, false, "").await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let cm = server.client(&t.consent_manager).await;
    let short = pseudonymise_ok(&tok, "short", &[A]).await;
    let sliding = pseudonymise_ok(&tok, "sliding", &[A, B]).await;
    let bound = pseudonymise_ok(&tok, "bound", &[A, B]).await;
    let forever = pseudonymise_ok(&tok, "forever", &[A]).await;
    let tokens = pseudonymise_ok(&tok, "tokens", &[A]).await;
    let mut receipts = Vec::new();
    for (who, until) in [(A, T0_MS + 3 * DAY), (B, 0)] {
        let granted = cm
            .consents()
            .grant_consent(pb::GrantConsentRequest {
                subject: Some(pb::SubjectRef {
                    domain: "bound".into(),
                    by: Some(pb::subject_ref::By::Identifier(who.into())),
                }),
                purpose: "research".into(),
                text_version: 1,
                method: pb::ConsentMethod::Signature.into(),
                valid_until_unix_ms: until,
                evidence: b"signed form".to_vec(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        receipts.push(granted.event.unwrap_or_default().receipt_id);
    }
    server.clock.advance_ms(DAY);
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "bound".into(),
                by: Some(pb::subject_ref::By::Identifier(B.into())),
            }),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    // Day 5: A is used in `sliding`, so its retention starts again.
    server.clock.advance_ms(4 * DAY);
    assert_eq!(
        verdict(&re, "sliding", &sliding[0]).await,
        pb::Verdict::Released
    );
    // A's consent ended on day 3: the bound mapping is already not-found.
    assert_eq!(
        verdict(&re, "bound", &bound[0]).await,
        pb::Verdict::NotFound
    );
    assert_eq!(
        verdict(&re, "short", &short[0]).await,
        pb::Verdict::Released
    );

    // The plan up to day 11, and what is due now (day 5).
    let m = |d: &str, p: &String, due: i64, why: &str| {
        (
            "mapping".to_owned(),
            d.to_owned(),
            p.clone(),
            due,
            why.to_owned(),
        )
    };
    let e = |r: &String, due: i64| {
        (
            "evidence".to_owned(),
            "research".to_owned(),
            r.clone(),
            due,
            "evidence-retention".to_owned(),
        )
    };
    let mut ahead = vec![
        m("short", &short[0], T0_MS + 10 * DAY, "retention"),
        m("sliding", &sliding[1], T0_MS + 10 * DAY, "retention"),
        m("tokens", &tokens[0], T0_MS + 10 * DAY, "retention"),
        m("bound", &bound[0], T0_MS + 3 * DAY, "consent-ended"),
        m("bound", &bound[1], T0_MS + DAY, "consent-ended"),
        e(&receipts[0], T0_MS + 4 * DAY),
        e(&receipts[1], T0_MS + 2 * DAY),
    ];
    ahead.sort();
    assert_eq!(plan(&admin, T0_MS + 11 * DAY).await, ahead);
    let now_due = plan(&admin, 0).await;
    let mut expect_now: Vec<_> = ahead
        .iter()
        .filter(|i| i.3 <= T0_MS + 5 * DAY)
        .cloned()
        .collect();
    expect_now.sort();
    assert_eq!(now_due, expect_now);
    assert_eq!(now_due.len(), 4);

    let ko = server.client(&t.key_officer).await;
    let records = |v: Vec<pb::KeyVersionInfo>| v.iter().map(|k| k.records).sum::<u64>();
    // 7 mappings + 2 evidence records.
    assert_eq!(records(key_versions(&ko).await), 9);
    let ran = admin
        .retention()
        .run_retention(pb::RunRetentionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ran.mappings_deleted, ran.evidence_deleted), (2, 2));
    assert_eq!(records(key_versions(&ko).await), 5);
    assert!(plan(&admin, 0).await.is_empty());

    // Day 11: the retention periods end; the mapping used on day 5 stays.
    server.clock.advance_ms(6 * DAY);
    let due = plan(&admin, 0).await;
    assert_eq!(due.len(), 3);
    let ran = admin
        .retention()
        .run_retention(pb::RunRetentionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ran.mappings_deleted, ran.evidence_deleted), (3, 0));
    // A random domain's blind index went with its mapping: A gets a fresh token that works.
    let fresh = pseudonymise_ok(&tok, "tokens", &[A]).await;
    assert_ne!(fresh, tokens);
    assert_eq!(
        verdict(&re, "tokens", &fresh[0]).await,
        pb::Verdict::Released
    );
    assert_eq!(
        verdict(&re, "short", &short[0]).await,
        pb::Verdict::NotFound
    );
    assert_eq!(
        verdict(&re, "sliding", &sliding[1]).await,
        pb::Verdict::NotFound
    );
    assert_eq!(
        verdict(&re, "sliding", &sliding[0]).await,
        pb::Verdict::Released
    );
    assert_eq!(
        verdict(&re, "forever", &forever[0]).await,
        pb::Verdict::Released
    );
    assert_eq!(records(key_versions(&ko).await), 3);

    // Downstream systems were told (one `erased` event per deleted mapping), and the audit log
    // holds each run's counts.
    let mut stream = tok
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut erased = Vec::new();
    while let Some(ev) = stream.message().await.unwrap() {
        if ev.kind() == pb::SubjectEventKind::Erased {
            erased.push((ev.domain, ev.pseudonym));
        }
    }
    erased.sort();
    let mut expect = vec![
        ("bound".to_owned(), bound[0].clone()),
        ("bound".to_owned(), bound[1].clone()),
        ("short".to_owned(), short[0].clone()),
        ("sliding".to_owned(), sliding[1].clone()),
        ("tokens".to_owned(), tokens[0].clone()),
    ];
    expect.sort();
    assert_eq!(erased, expect);
    let (entries, _) = valv_e2e::read_audit(
        &server.client(&t.auditor).await,
        pb::ReadAuditRequest::default(),
    )
    .await;
    let done: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "retention.reap.done")
        .collect();
    assert_eq!(done.len(), 2);
    valv_e2e::assert_log_lacks(&["198001011231", "8001011231", "195209035525"]);
    server.stop().await;
}
