//! Bad input gets a clear status naming the field and the rule, never echoes an identifier, and
//! changes nothing.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv_e2e::{pb, *};

fn kind_of(name: &str) -> pb::IdentifierKind {
    match name {
        "se-personnummer" => pb::IdentifierKind::SePersonnummer,
        "no-fodselsnummer" => pb::IdentifierKind::NoFodselsnummer,
        "dk-cpr" => pb::IdentifierKind::DkCpr,
        "fi-hetu" => pb::IdentifierKind::FiHetu,
        "email" => pb::IdentifierKind::Email,
        _ => pb::IdentifierKind::Phone,
    }
}

const KINDS: [&str; 6] = [
    "se-personnummer",
    "no-fodselsnummer",
    "dk-cpr",
    "fi-hetu",
    "email",
    "phone",
];

#[tokio::test]
async fn malformed_identifiers_of_every_kind_are_per_item_errors_and_store_nothing() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let domains: Vec<(&str, pb::IdentifierKind, pb::Scheme, bool)> = KINDS
        .iter()
        .map(|k| (*k, kind_of(k), pb::Scheme::Keyed, true))
        .collect();
    let t = setup_tenant(
        &operator,
        "acme",
        &domains,
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let data = identifiers_json();
    for kind in KINDS {
        let invalid: Vec<String> = data[kind]["invalid"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["value"].as_str().map(str::to_owned))
            .collect();
        assert!(!invalid.is_empty());
        let reply = tok
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain: kind.into(),
                identifiers: invalid.clone(),
                batch_id: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.created, 0, "{kind}: nothing may be stored");
        for (i, r) in reply.results.iter().enumerate() {
            let Some(pb::pseudonymise_result::Outcome::Error(e)) = &r.outcome else {
                panic!("{kind}: invalid item {i} became a pseudonym")
            };
            assert_eq!(e.field, format!("identifiers[{i}]"));
            assert!(e.rule.starts_with(&format!("{kind}: ")), "{}", e.rule);
            assert!(
                !e.rule.contains(invalid[i].trim()),
                "rule echoes the identifier"
            );
        }
    }
    // And the valid ones of every kind work.
    for kind in KINDS {
        for case in data[kind]["valid"].as_array().into_iter().flatten() {
            let value = case
                .get("value")
                .or_else(|| case["same_person"].get(0))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            assert_eq!(
                pseudonymise_ok(&tok, kind, &[value]).await.len(),
                1,
                "{kind}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn batch_limits_unknown_names_and_malformed_requests() {
    let limits = valv::config::Limits {
        max_batch: 100,
        max_identifier_bytes: 64,
        max_message_bytes: 64 * 1024,
        ..valv::config::Limits::default()
    };
    let server = start_with(limits, None).await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;
    let pseudonymise = |domain: &str, ids: Vec<String>| {
        let tok = tok.clone();
        let domain = domain.to_owned();
        async move {
            tok.pseudonyms()
                .pseudonymise(pb::PseudonymiseRequest {
                    domain,
                    identifiers: ids,
                    batch_id: 0,
                })
                .await
        }
    };
    let status = |r: Result<_, tonic::Status>| r.err().map(|s| (s.code(), s.message().to_owned()));

    let empty = status(pseudonymise("d", vec![]).await);
    assert_eq!(
        empty,
        Some((
            Code::InvalidArgument,
            "identifiers: must not be empty".into()
        ))
    );
    let over = status(pseudonymise("d", (0..101).map(|i| format!("P-{i}")).collect()).await);
    assert_eq!(over.as_ref().map(|s| s.0), Some(Code::ResourceExhausted));
    assert!(
        over.map(|s| s.1.starts_with("identifiers: 101 items exceed"))
            .unwrap_or(false)
    );
    // A message over the size limit is refused from its length prefix, before it is buffered.
    let huge = status(
        pseudonymise(
            "d",
            (0..90)
                .map(|i| format!("{i}-{}", "x".repeat(1000)))
                .collect(),
        )
        .await,
    );
    assert_eq!(huge.map(|s| s.0), Some(Code::OutOfRange));
    let unknown = status(pseudonymise("nope", vec!["P-1".into()]).await);
    assert_eq!(unknown.map(|s| s.0), Some(Code::NotFound));
    let long = pseudonymise("d", vec!["y".repeat(65)])
        .await
        .unwrap()
        .into_inner();
    assert_eq!(long.created, 0);
    assert!(
        matches!(&long.results[0].outcome, Some(pb::pseudonymise_result::Outcome::Error(e)) if e.rule.contains("limit"))
    );

    let p = pseudonymise_ok(&tok, "d", &["P-1"]).await;
    assert_eq!(
        reidentify(&reid, "d", "nope", &p)
            .await
            .err()
            .map(|s| s.code()),
        Some(Code::NotFound)
    );
    assert_eq!(
        reidentify(&reid, "d", "ops", &[])
            .await
            .err()
            .map(|s| s.code()),
        Some(Code::InvalidArgument)
    );
    // Garbage pseudonyms are per-item not-found.
    let r = reidentify(&reid, "d", "ops", &["!!".into(), p[0].clone()])
        .await
        .unwrap_or_default();
    assert_eq!(
        r,
        vec![
            (pb::Verdict::NotFound, String::new()),
            (pb::Verdict::Released, "P-1".into())
        ]
    );

    // Admin input: names, kinds, roles, purposes.
    let admin = server.client(&t.admin).await;
    let bad_domain =
        |name: &str, kind: pb::IdentifierKind, scheme: pb::Scheme| pb::CreateDomainRequest {
            name: name.into(),
            kind: kind.into(),
            scheme: scheme.into(),
            reversible: true,
            retention_seconds: 0,
            ..Default::default()
        };
    for (req, field) in [
        (
            bad_domain("Bad Name", pb::IdentifierKind::Email, pb::Scheme::Keyed),
            "name:",
        ),
        (
            bad_domain("ok", pb::IdentifierKind::Unspecified, pb::Scheme::Keyed),
            "kind:",
        ),
        (
            bad_domain("ok", pb::IdentifierKind::Email, pb::Scheme::Unspecified),
            "scheme:",
        ),
    ] {
        let s = admin.admin().create_domain(req).await.err();
        assert_eq!(s.as_ref().map(|s| s.code()), Some(Code::InvalidArgument));
        assert!(s.map(|s| s.message().starts_with(field)).unwrap_or(false));
    }
    let dup = admin
        .admin()
        .create_domain(bad_domain(
            "d",
            pb::IdentifierKind::Email,
            pb::Scheme::Keyed,
        ))
        .await
        .err();
    assert_eq!(dup.map(|s| s.code()), Some(Code::AlreadyExists));
    let bad_principal = admin
        .admin()
        .create_principal(pb::CreatePrincipalRequest {
            name: "x".into(),
            roles: vec![pb::Role::Reidentifier.into()],
            purposes: vec!["undefined".into()],
            enrol: false,
        })
        .await
        .err();
    assert_eq!(
        bad_principal.map(|s| (s.code(), s.message().to_owned())),
        Some((
            Code::InvalidArgument,
            "purposes[0]: not defined in this tenant".into()
        ))
    );
    let operator_role = admin
        .admin()
        .create_principal(pb::CreatePrincipalRequest {
            name: "x".into(),
            roles: vec![pb::Role::Operator.into()],
            purposes: vec![],
            enrol: false,
        })
        .await
        .err();
    assert_eq!(operator_role.map(|s| s.code()), Some(Code::InvalidArgument));
    // Nothing of the refused requests exists afterwards.
    let domains = admin
        .admin()
        .list_domains(pb::ListDomainsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        domains
            .domains
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        vec!["d"]
    );
    let principals = admin
        .admin()
        .list_principals(pb::ListPrincipalsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(principals.principals.len(), 6);

    // Consent input.
    let cm = server.client(&t.consent_manager).await;
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 1,
            default_consent_validity_seconds: 0,
            description: String::new(),
            ..Default::default()
        })
        .await
        .unwrap();
    let no_text = cm
        .consents()
        .grant_consent(grant("d", "P-1", "research", 1, 0))
        .await
        .err();
    assert_eq!(
        no_text.map(|s| (s.code(), s.message().to_owned())),
        Some((
            Code::InvalidArgument,
            "text_version: no consent text of that version for this purpose (AddConsentText first)"
                .into()
        ))
    );
    admin
        .admin()
        .add_consent_text(pb::AddConsentTextRequest {
            purpose: "research".into(),
            text: "I agree.".into(),
        })
        .await
        .unwrap();
    let past = cm
        .consents()
        .grant_consent(grant("d", "P-1", "research", 1, T0_MS - 1))
        .await
        .err();
    assert_eq!(
        past.map(|s| (s.code(), s.message().to_owned())),
        Some((
            Code::InvalidArgument,
            "valid_until_unix_ms: must be in the future".into()
        ))
    );
    let v0 = cm
        .consents()
        .grant_consent(grant("d", "P-1", "research", 0, 0))
        .await
        .err();
    assert_eq!(v0.map(|s| s.code()), Some(Code::InvalidArgument));
    let withdraw_nothing = cm
        .consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "d".into(),
                by: Some(pb::subject_ref::By::Identifier("P-1".into())),
            }),
            purpose: "research".into(),
        })
        .await
        .err();
    assert_eq!(withdraw_nothing.map(|s| s.code()), Some(Code::NotFound));
    let no_subject = cm
        .consents()
        .grant_consent(pb::GrantConsentRequest {
            subject: None,
            ..grant("d", "P-1", "research", 1, 0)
        })
        .await
        .err();
    assert_eq!(
        no_subject.map(|s| s.message().to_owned()),
        Some("subject: must be set".into())
    );
    server.stop().await;
}

/// The consent, subject and retention calls: each bad field is named with its rule, and nothing
/// changes.
#[tokio::test]
async fn consent_subject_and_retention_input_is_checked_and_changes_nothing() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "checks",
        &[(
            "patients",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let cm = server.client(&t.consent_manager).await;
    let officer = server
        .client(&principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await)
        .await;
    let refused = |r: Result<(), tonic::Status>| {
        r.err()
            .map(|s| (s.code(), s.message().to_owned()))
            .unwrap_or_else(|| (Code::Ok, String::new()))
    };
    let invalid = |m: &str| (Code::InvalidArgument, m.to_owned());

    // 0 leaves the age unchanged (a request may set only other settings).
    for age in [26, 1000] {
        let r = admin
            .admin()
            .set_tenant_settings(pb::SetTenantSettingsRequest {
                age_of_consent: age,
                ..Default::default()
            })
            .await
            .map(drop);
        assert_eq!(
            refused(r),
            invalid("age_of_consent: must be between 1 and 25")
        );
    }
    let settings = admin
        .admin()
        .get_tenant_settings(pb::GetTenantSettingsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings.age_of_consent, 16);

    for (text, rule) in [
        (String::new(), "text: must not be empty"),
        ("x".repeat(70_000), "text: at most 65536 bytes"),
    ] {
        let r = admin
            .admin()
            .add_consent_text(pb::AddConsentTextRequest {
                purpose: "research".into(),
                text,
            })
            .await
            .map(drop);
        assert_eq!(refused(r), invalid(rule));
    }
    let texts = admin
        .admin()
        .list_consent_texts(pb::ListConsentTextsRequest {
            purpose: "research".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .texts;
    assert_eq!(texts.len(), 3);

    let grant = |evidence: Vec<u8>, channel: String| pb::GrantConsentRequest {
        evidence,
        channel,
        ..valv_e2e::grant("patients", "19800101-1231", "research", 1, 0)
    };
    for (request, rule) in [
        (
            grant(vec![0; 1024 * 1024 + 1], String::new()),
            "evidence: at most 1 MiB",
        ),
        (
            grant(Vec::new(), "c".repeat(65)),
            "channel: at most 64 bytes",
        ),
    ] {
        let r = cm.consents().grant_consent(request).await.map(drop);
        assert_eq!(refused(r), invalid(rule));
    }
    let listed = cm
        .consents()
        .list_consents(pb::ListConsentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.consents.is_empty());
    let r = cm
        .consents()
        .list_consents(pb::ListConsentsRequest {
            page_size: 1001,
            ..Default::default()
        })
        .await
        .map(drop);
    assert_eq!(refused(r), invalid("page_size: at most 1000"));
    let not_a_receipt = cm
        .consents()
        .verify_receipt(pb::VerifyReceiptRequest {
            receipt: "{\"receipt_id\": 1}".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!not_a_receipt.valid && not_a_receipt.problem.starts_with("not a consent receipt"));

    let r = officer
        .subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("19800101-1231".into())),
            }),
            reason: "r".repeat(201),
        })
        .await
        .map(drop);
    assert_eq!(refused(r), invalid("reason: at most 200 bytes"));
    let r = officer
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("19800101-1232".into())),
            }),
        })
        .await
        .err()
        .map(|s| (s.code(), s.message().contains("1232")));
    assert_eq!(r, Some((Code::InvalidArgument, false)));

    let r = admin
        .retention()
        .plan_retention(pb::PlanRetentionRequest {
            until_unix_ms: 0,
            limit: 10_001,
        })
        .await
        .map(drop);
    assert_eq!(refused(r), invalid("limit: at most 10000"));
    for (request, rule) in [
        (
            pb::CreateDomainRequest {
                name: "sliding".into(),
                kind: pb::IdentifierKind::Email.into(),
                scheme: pb::Scheme::Keyed.into(),
                retention_since_last_use: true,
                ..Default::default()
            },
            "retention_since_last_use: needs retention_seconds",
        ),
        (
            pb::CreateDomainRequest {
                name: "bound".into(),
                kind: pb::IdentifierKind::Email.into(),
                scheme: pb::Scheme::Keyed.into(),
                consent_purpose: "nowhere".into(),
                ..Default::default()
            },
            "consent_purpose: no such purpose in this tenant",
        ),
    ] {
        let r = admin.admin().create_domain(request).await.map(drop);
        assert_eq!(refused(r), invalid(rule));
    }
    let r = admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "covering".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            domains: vec!["nowhere".into()],
            ..Default::default()
        })
        .await
        .map(drop);
    assert_eq!(
        refused(r),
        invalid("domains[0]: no such domain in this tenant")
    );
    let domains = admin
        .admin()
        .list_domains(pb::ListDomainsRequest {})
        .await
        .unwrap()
        .into_inner()
        .domains;
    assert_eq!(domains.len(), 1);
    let purposes = admin
        .admin()
        .list_purposes(pb::ListPurposesRequest {})
        .await
        .unwrap()
        .into_inner()
        .purposes;
    assert_eq!(purposes.len(), 1);
    server.stop().await;
}
