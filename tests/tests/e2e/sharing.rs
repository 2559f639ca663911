//! Sharing with a recipient without identifiers: a tenant-admin defines an agreement (under the
//! two-person rule a second one approves it), a translator turns the platform's pseudonyms into
//! the recipient's — consent-gated like a re-identification, restricted subjects refused — and no
//! identifier is in any answer or audit entry; `valvctl translate` streams a CSV file through it.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv::config::Limits;
use valv_e2e::{pb, *};

const DAY_MS: i64 = 86_400_000;
const PNRS: [&str; 3] = ["195209035525", "197807241901", "198112189876"];

fn agreement(name: &str, from: &str, to: &str, purpose: &str) -> pb::SharingAgreement {
    pb::SharingAgreement {
        name: name.into(),
        from_domain: from.into(),
        to_domain: to.into(),
        purpose: purpose.into(),
        recipient: "Quality registry centre".into(),
        legal_basis: "Art. 9(2)(j); ethics approval 2026-1234".into(),
        valid_until_unix_ms: T0_MS + 30 * DAY_MS,
        ..Default::default()
    }
}

async fn define(
    admin: &Valv,
    a: pb::SharingAgreement,
) -> Result<pb::DefineSharingAgreementResponse, tonic::Status> {
    admin
        .admin()
        .define_sharing_agreement(pb::DefineSharingAgreementRequest { agreement: Some(a) })
        .await
        .map(tonic::Response::into_inner)
}

async fn translate(
    c: &Valv,
    agreement: &str,
    pseudonyms: &[String],
) -> Result<Vec<(pb::Verdict, String)>, tonic::Status> {
    let reply = c
        .pseudonyms()
        .translate_pseudonyms(pb::TranslatePseudonymsRequest {
            agreement: agreement.into(),
            pseudonyms: pseudonyms.to_vec(),
            batch_id: 7,
        })
        .await?
        .into_inner();
    assert_eq!(reply.batch_id, 7);
    Ok(reply
        .results
        .into_iter()
        .map(|r| (r.verdict(), r.pseudonym))
        .collect())
}

async fn principal(
    admin: &Valv,
    second: Option<&Valv>,
    role: pb::Role,
    purposes: &[&str],
) -> String {
    admin
        .create_principal_token(
            pb::CreatePrincipalRequest {
                name: format!(
                    "{}-{}",
                    role.as_str_name().to_lowercase(),
                    purposes.join("-")
                ),
                roles: vec![role.into()],
                purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
                enrol: false,
            },
            second,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_translator_gives_a_recipient_its_own_pseudonyms_and_nothing_else() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let pnr = pb::IdentifierKind::SePersonnummer;
    let t = setup_tenant(
        &operator,
        "hospital",
        &[
            ("patients", pnr, pb::Scheme::Keyed, true),
            ("registry", pnr, pb::Scheme::Keyed, true),
            ("random-study", pnr, pb::Scheme::Random, true),
            ("one-way", pnr, pb::Scheme::Keyed, false),
            ("mail", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
        ],
        &[
            ("research", pb::LegalBasis::Consent),
            ("quality", pb::LegalBasis::LegalObligation),
        ],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let tok = server.client(&t.tokenizer).await;
    let cm = server.client(&t.consent_manager).await;

    // What an agreement must satisfy, each refusal naming its field; nothing is stored.
    for (bad, field) in [
        (
            agreement("same", "patients", "patients", "research"),
            "agreement.to_domain",
        ),
        (
            agreement("kinds", "patients", "mail", "research"),
            "agreement.to_domain",
        ),
        (
            agreement("oneway", "one-way", "registry", "research"),
            "agreement.from_domain",
        ),
        (
            agreement("nodomain", "patients", "nowhere", "research"),
            "agreement.to_domain",
        ),
        (
            agreement("nopurpose", "patients", "registry", "nothing"),
            "agreement.purpose",
        ),
        (
            pb::SharingAgreement {
                recipient: " ".into(),
                ..agreement("norecipient", "patients", "registry", "research")
            },
            "agreement.recipient",
        ),
        (
            pb::SharingAgreement {
                valid_until_unix_ms: T0_MS - 1,
                ..agreement("past", "patients", "registry", "research")
            },
            "agreement.valid_until_unix_ms",
        ),
        (
            agreement("bad name!", "patients", "registry", "research"),
            "agreement.name",
        ),
    ] {
        let status = define(&admin, bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
    }
    let listed = admin
        .admin()
        .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.agreements.is_empty());

    // Two agreements: a consent-based one and one on a legal obligation into a random domain.
    let stored = define(
        &admin,
        agreement("study", "patients", "registry", "research"),
    )
    .await
    .unwrap()
    .agreement
    .unwrap();
    assert_eq!(stored.approved_by, "");
    assert!(!stored.created_by.is_empty());
    define(
        &admin,
        agreement("quality", "patients", "random-study", "quality"),
    )
    .await
    .unwrap();
    let again = define(
        &admin,
        agreement("study", "patients", "registry", "research"),
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let translator = server
        .client(&principal(&admin, None, pb::Role::Translator, &["research", "quality"]).await)
        .await;
    let outsider = server
        .client(&principal(&admin, None, pb::Role::Translator, &[]).await)
        .await;
    let from = pseudonymise_ok(&tok, "patients", &PNRS).await;
    // The subjects' own pseudonyms in the recipient's domain, as a tokenizer would make them.
    let expected = pseudonymise_ok(&tok, "registry", &PNRS).await;
    cm.consents()
        .grant_consent(grant("patients", PNRS[0], "research", 1, 0))
        .await
        .unwrap();
    cm.consents()
        .grant_consent(grant("patients", PNRS[1], "research", 1, 0))
        .await
        .unwrap();
    // The second person withdraws again; the third never agreed.
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Pseudonym(from[1].clone())),
            }),
            purpose: "research".into(),
        })
        .await
        .unwrap();

    let mut asked = from.clone();
    asked.push("not-a-pseudonym".into());
    let got = translate(&translator, "study", &asked).await.unwrap();
    assert_eq!(
        got,
        vec![
            (pb::Verdict::Released, expected[0].clone()),
            (pb::Verdict::ConsentWithdrawn, String::new()),
            (pb::Verdict::NoConsent, String::new()),
            (pb::Verdict::NotFound, String::new()),
        ]
    );
    assert_ne!(
        got[0].1, from[0],
        "the recipient's pseudonym is not the sender's"
    );

    // On a legal obligation no consent is asked; a random to-domain makes a mapping per
    // person once and gives the same pseudonym again.
    let first = translate(&translator, "quality", &from).await.unwrap();
    assert!(
        first
            .iter()
            .all(|(v, p)| *v == pb::Verdict::Released && !p.is_empty())
    );
    assert_eq!(
        translate(&translator, "quality", &from).await.unwrap(),
        first
    );

    // A restricted subject is refused (Art. 18).
    server
        .client(&principal(&admin, None, pb::Role::SubjectOfficer, &[]).await)
        .await
        .subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Pseudonym(from[2].clone())),
            }),
            reason: "disputed".into(),
        })
        .await
        .unwrap();
    let after = translate(&translator, "quality", &from).await.unwrap();
    assert_eq!(after[2], (pb::Verdict::Restricted, String::new()));
    assert_eq!(after[0], first[0]);

    // Who may not: a translator without the purpose gets denials, other roles and unknown
    // agreements are refused outright.
    let denied = translate(&outsider, "study", &from).await.unwrap();
    assert!(
        denied
            .iter()
            .all(|(v, p)| *v == pb::Verdict::Denied && p.is_empty())
    );
    let status = translate(&tok, "study", &from).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = translate(&translator, "nothing", &from).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // The stream answers batch by batch.
    let batches = vec![
        pb::TranslatePseudonymsRequest {
            agreement: "study".into(),
            pseudonyms: vec![from[0].clone()],
            batch_id: 1,
        },
        pb::TranslatePseudonymsRequest {
            agreement: "quality".into(),
            pseudonyms: vec![from[0].clone(), from[1].clone()],
            batch_id: 2,
        },
    ];
    let mut replies = translator
        .pseudonyms()
        .translate_pseudonyms_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let one = replies.message().await.unwrap().unwrap();
    let two = replies.message().await.unwrap().unwrap();
    assert_eq!((one.batch_id, two.batch_id), (1, 2));
    assert_eq!(one.results[0].pseudonym, expected[0]);
    assert_eq!(two.results[1].pseudonym, first[1].1);

    // The audit tells each translation: the agreement, the domains, every verdict — and no
    // identifier.
    let auditor = server.client(&t.auditor).await;
    let (entries, _) = read_audit(&auditor, pb::ReadAuditRequest::default()).await;
    let translations: Vec<&pb::AuditEntry> =
        entries.iter().filter(|e| e.action == "translate").collect();
    assert_eq!(
        translations.len(),
        7,
        "one entry per call that reached verdicts"
    );
    let study = translations[0];
    assert_eq!(study.domain, "patients");
    assert_eq!(study.purpose, "research");
    let changes: Vec<(String, String, String)> = study
        .changes
        .iter()
        .map(|c| (c.field.clone(), c.before.clone(), c.after.clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("agreement".into(), String::new(), "study".into()),
            ("domain".into(), "patients".into(), "registry".into()),
        ]
    );
    let verdicts: Vec<&str> = study.items.iter().map(|i| i.outcome.as_str()).collect();
    assert_eq!(
        verdicts,
        ["released", "consent-withdrawn", "no-consent", "not-found"]
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "sharing-agreement.define")
    );
    let all = format!("{entries:?}");
    for pnr in PNRS {
        assert!(!all.contains(pnr), "an identifier in the audit");
    }

    // Expiry and revocation end it.
    server.clock.advance_ms(31 * DAY_MS);
    let status = translate(&translator, "study", &from).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    admin
        .admin()
        .revoke_sharing_agreement(pb::RevokeSharingAgreementRequest {
            name: "quality".into(),
        })
        .await
        .unwrap();
    let status = translate(&translator, "quality", &from).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = admin
        .admin()
        .revoke_sharing_agreement(pb::RevokeSharingAgreementRequest {
            name: "quality".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_two_person_rule_an_agreement_and_a_translator_need_a_second_admin() {
    let server = start_configured(
        |c| {
            c.limits = Limits {
                two_person_rule: true,
                ..Limits::default()
            };
        },
        None,
    )
    .await;
    let operator = server.client(&server.operator_token).await;
    let pnr = pb::IdentifierKind::SePersonnummer;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[
            ("patients", pnr, pb::Scheme::Keyed, true),
            ("registry", pnr, pb::Scheme::Keyed, true),
        ],
        &[("quality", pb::LegalBasis::LegalObligation)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let admin2 = server.client(&t.admin2).await;
    let pending = define(
        &admin,
        agreement("study", "patients", "registry", "quality"),
    )
    .await
    .unwrap();
    assert!(pending.agreement.is_none());
    assert!(pending.pending_operation_id > 0);
    let listed = admin
        .admin()
        .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.agreements.is_empty(),
        "nothing in force before the approval"
    );
    // Its requester cannot approve it.
    let status = admin
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: pending.pending_operation_id,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    admin2
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: pending.pending_operation_id,
        })
        .await
        .unwrap();
    let listed = admin
        .admin()
        .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.agreements.len(), 1);
    assert_eq!(listed.agreements[0].approved_by.len(), 16);
    assert_ne!(
        listed.agreements[0].approved_by,
        listed.agreements[0].created_by
    );

    // A translator principal is a widening too: created only with the second admin.
    let refused = admin
        .admin()
        .create_principal(pb::CreatePrincipalRequest {
            name: "tr".into(),
            roles: vec![pb::Role::Translator.into()],
            purposes: vec!["quality".into()],
            enrol: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(refused.token.is_empty() && refused.pending_operation_id > 0);
    let translator = server
        .client(&principal(&admin, Some(&admin2), pb::Role::Translator, &["quality"]).await)
        .await;
    let tok = server.client(&t.tokenizer).await;
    let from = pseudonymise_ok(&tok, "patients", &PNRS[..1]).await;
    let got = translate(&translator, "study", &from).await.unwrap();
    assert_eq!(got[0].0, pb::Verdict::Released);
    assert_eq!(
        got[0].1,
        pseudonymise_ok(&tok, "registry", &PNRS[..1]).await[0]
    );
    server.stop().await;
}
