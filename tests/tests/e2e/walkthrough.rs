//! The README's first session, end to end over TLS: tenant, domain, purpose, principals;
//! pseudonymise; consent; re-identify; withdraw; expiry; re-identify refused.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use valv_e2e::{pb, *};

const DOMAIN: &str = "patients.research";

#[tokio::test]
async fn first_session_consent_gates_reidentification() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "region-north",
        &[(
            DOMAIN,
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        )],
        &[
            ("research-export", pb::LegalBasis::Consent),
            ("care", pb::LegalBasis::PublicTask),
        ],
    )
    .await;
    let tokenizer = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;
    let consents = server.client(&t.consent_manager).await;

    // Pseudonymise a batch with one invalid item: the valid ones succeed, the bad one names its rule.
    let reply = tokenizer
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: DOMAIN.into(),
            identifiers: vec![
                "19520903-5525".into(),
                "200311161633".into(),
                "200311161632".into(),
            ],
            batch_id: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.batch_id, 7);
    assert_eq!(reply.created, 2);
    let outcome = |i: usize| reply.results[i].outcome.clone();
    let Some(pb::pseudonymise_result::Outcome::Pseudonym(anna)) = outcome(0) else {
        panic!("item 0")
    };
    let Some(pb::pseudonymise_result::Outcome::Error(err)) = outcome(1) else {
        panic!("item 1 must fail")
    };
    assert_eq!(err.field, "identifiers[1]");
    assert_eq!(err.rule, "se-personnummer: check digit");
    let Some(pb::pseudonymise_result::Outcome::Pseudonym(bo)) = outcome(2) else {
        panic!("item 2")
    };
    assert_eq!(anna.len(), 26);
    // Every spelling of the same person gives the same pseudonym.
    assert_eq!(
        pseudonymise_ok(&tokenizer, DOMAIN, &["520903-5525", "195209035525"]).await,
        vec![anna.clone(), anna.clone()]
    );

    let both = vec![anna.clone(), bo.clone()];
    let verdicts =
        |v: Vec<(pb::Verdict, String)>| v.into_iter().map(|(v, _)| v).collect::<Vec<_>>();

    // No consent yet.
    let r = reidentify(&reid, DOMAIN, "research-export", &both)
        .await
        .unwrap_or_default();
    assert_eq!(
        verdicts(r),
        vec![pb::Verdict::NoConsent, pb::Verdict::NoConsent]
    );

    // Anna consents for one hour (by identifier); Bo does not.
    let hour = 3_600_000;
    let granted = consents
        .consents()
        .grant_consent(grant(
            DOMAIN,
            "520903-5525",
            "research-export",
            1,
            T0_MS + hour,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.event.map(|e| e.seq), Some(1));
    let r = reidentify(&reid, DOMAIN, "research-export", &both)
        .await
        .unwrap_or_default();
    assert_eq!(r[0], (pb::Verdict::Released, "195209035525".to_owned()));
    assert_eq!(r[1], (pb::Verdict::NoConsent, String::new()));

    // A purpose with another legal basis needs no consent.
    let r = reidentify(&reid, DOMAIN, "care", &both)
        .await
        .unwrap_or_default();
    assert_eq!(r[1], (pb::Verdict::Released, "200311161632".to_owned()));

    // Time passes: the consent expires at the moment its end passes.
    server.clock.advance_ms(hour);
    let r = reidentify(&reid, DOMAIN, "research-export", &both)
        .await
        .unwrap_or_default();
    assert_eq!(
        verdicts(r),
        vec![pb::Verdict::ConsentExpired, pb::Verdict::NoConsent]
    );

    // A grant by pseudonym is refused in a personnummer domain: whether it needs a guardian
    // would tell the desk the person's age.
    let mut by_pseudonym = grant(DOMAIN, "", "research-export", 1, 0);
    by_pseudonym.subject = Some(pb::SubjectRef {
        domain: DOMAIN.into(),
        by: Some(pb::subject_ref::By::Pseudonym(anna.clone())),
    });
    let refused = consents.consents().grant_consent(by_pseudonym).await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(tonic::Code::FailedPrecondition)
    );
    // Granted again (by identifier, no end), then withdrawn: takes effect for the very next call.
    consents
        .consents()
        .grant_consent(grant(DOMAIN, "19520903-5525", "research-export", 1, 0))
        .await
        .unwrap();
    let r = reidentify(&reid, DOMAIN, "research-export", &both)
        .await
        .unwrap_or_default();
    assert_eq!(r[0].0, pb::Verdict::Released);
    consents
        .consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: DOMAIN.into(),
                by: Some(pb::subject_ref::By::Identifier("19520903-5525".into())),
            }),
            purpose: "research-export".into(),
        })
        .await
        .unwrap();
    let r = reidentify(&reid, DOMAIN, "research-export", &both)
        .await
        .unwrap_or_default();
    assert_eq!(
        verdicts(r),
        vec![pb::Verdict::ConsentWithdrawn, pb::Verdict::NoConsent]
    );

    // The history holds all three events, oldest first.
    let history = consents
        .consents()
        .get_consent_history(pb::GetConsentHistoryRequest {
            subject: Some(pb::SubjectRef {
                domain: DOMAIN.into(),
                by: Some(pb::subject_ref::By::Pseudonym(anna.clone())),
            }),
            purpose: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.purposes.len(), 1);
    let p = &history.purposes[0];
    assert_eq!(p.status(), pb::ConsentStatus::Withdrawn);
    let kinds: Vec<_> = p.events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            pb::ConsentEventKind::Granted,
            pb::ConsentEventKind::Granted,
            pb::ConsentEventKind::Withdrawn
        ]
    );
    assert_eq!(p.events[0].valid_until_unix_ms, T0_MS + hour);

    // Raising the purpose's minimum text version makes older consents insufficient at once.
    consents
        .consents()
        .grant_consent(grant(DOMAIN, "200311161632", "research-export", 1, 0))
        .await
        .unwrap();
    assert_eq!(
        reidentify(&reid, DOMAIN, "research-export", std::slice::from_ref(&bo))
            .await
            .unwrap_or_default()[0]
            .0,
        pb::Verdict::Released
    );
    let admin = server.client(&t.admin).await;
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research-export".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 2,
            default_consent_validity_seconds: 0,
            description: "v2 of the text".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        reidentify(&reid, DOMAIN, "research-export", std::slice::from_ref(&bo))
            .await
            .unwrap_or_default()[0]
            .0,
        pb::Verdict::NoConsent
    );

    server.stop().await;
}

#[tokio::test]
async fn schemes_random_and_format_preserving_and_one_way() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[
            ("mail", pb::IdentifierKind::Email, pb::Scheme::Random, true),
            (
                "legacy",
                pb::IdentifierKind::NoFodselsnummer,
                pb::Scheme::FormatPreserving,
                true,
            ),
            (
                "oneway",
                pb::IdentifierKind::Email,
                pb::Scheme::Keyed,
                false,
            ),
            (
                "cpr",
                pb::IdentifierKind::DkCpr,
                pb::Scheme::FormatPreserving,
                false,
            ),
        ],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;

    // random: one token per person, whatever the spelling.
    let r = pseudonymise_ok(
        &tok,
        "mail",
        &[
            "Anna.Svensson@Example.SE",
            "  anna.svensson@example.se ",
            "bo@example.se",
        ],
    )
    .await;
    assert_eq!(r[0], r[1]);
    assert_ne!(r[0], r[2]);
    assert_eq!(r[0].len(), 26);
    let again = pseudonymise_ok(&tok, "mail", &["anna.svensson@example.se"]).await;
    assert_eq!(again[0], r[0]);
    let back = reidentify(&reid, "mail", "ops", &r)
        .await
        .unwrap_or_default();
    assert_eq!(
        back[0],
        (pb::Verdict::Released, "anna.svensson@example.se".to_owned())
    );

    // format-preserving: 11 digits of the synthetic range (month + 80), the same again for the
    // same person; one-way too (a blind index, no identifier kept).
    let f = pseudonymise_ok(&tok, "legacy", &["041106 57264", "02019713906"]).await;
    assert_eq!(f[0].len(), 11);
    assert!(f[0].chars().all(|c| c.is_ascii_digit()));
    assert!(
        f[0][2..4]
            .parse::<u32>()
            .is_ok_and(|m| (81..=92).contains(&m))
    );
    assert_ne!(f[0], f[1]);
    assert_eq!(
        pseudonymise_ok(&tok, "legacy", &["04110657264"]).await[0],
        f[0]
    );
    let back = reidentify(&reid, "legacy", "ops", &f)
        .await
        .unwrap_or_default();
    assert_eq!(back[0], (pb::Verdict::Released, "04110657264".to_owned()));
    let p = pseudonymise_ok(&tok, "cpr", &["070761-4285", "0707614285"]).await;
    assert!(p[0].len() == 10 && p[0] == p[1]);
    assert!(
        p[0][..2]
            .parse::<u32>()
            .is_ok_and(|d| (61..=91).contains(&d))
    );

    // one-way: pseudonyms but no re-identification.
    let o = pseudonymise_ok(&tok, "oneway", &["anna@example.se"]).await;
    let err = reidentify(&reid, "oneway", "ops", &o)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(tonic::Code::FailedPrecondition));

    // Format-preserving is refused at domain creation for kinds with no reserved space.
    let admin = server.client(&t.admin).await;
    for kind in [
        pb::IdentifierKind::Email,
        pb::IdentifierKind::SePersonnummer,
        pb::IdentifierKind::Phone,
    ] {
        let err = create_domain(&admin, "bad", kind, pb::Scheme::FormatPreserving, true, 0)
            .await
            .err();
        assert_eq!(
            err.as_ref().map(|s| s.code()),
            Some(tonic::Code::InvalidArgument)
        );
        assert!(
            err.map(|s| s
                .message()
                .starts_with("scheme: format-preserving is offered for"))
                .unwrap_or(false)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn mappings_expire_with_domain_retention() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(&operator, "acme", &[], &[("ops", pb::LegalBasis::Contract)]).await;
    let admin = server.client(&t.admin).await;
    create_domain(
        &admin,
        "short",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        true,
        60,
    )
    .await
    .unwrap();
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;
    let p = pseudonymise_ok(&tok, "short", &["P-1"]).await;
    assert_eq!(
        reidentify(&reid, "short", "ops", &p)
            .await
            .unwrap_or_default()[0]
            .0,
        pb::Verdict::Released
    );
    server.clock.advance_ms(60_000);
    assert_eq!(
        reidentify(&reid, "short", "ops", &p)
            .await
            .unwrap_or_default()[0]
            .0,
        pb::Verdict::NotFound
    );
    server.stop().await;
}
