//! Consent lifecycle (issue 3, first part): versioned consent texts, purposes that cover
//! domains, grants with channel and encrypted evidence, minors who need a guardian, signed
//! consent receipts checked online and offline, and withdrawal, expiry and a raised minimum text
//! version taking effect on the very next re-identification (the clock is moved, not waited on).

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use sha2::Digest;
use tonic::Code;
use valv_e2e::{
    T0_MS, Valv, jobs, key_versions, pb, pseudonymise_ok, reidentify, setup_tenant, start,
};

/// Born 2015-06-01: 11 years old on the test clock's 2026-11-23.
const MINOR: &str = "20150601-1236";
/// Also a minor.
const OTHER_MINOR: &str = "20150601-4560";
/// Born 1980-01-01.
const ADULT: &str = "19800101-1231";

fn subject(domain: &str, identifier: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: domain.into(),
        by: Some(pb::subject_ref::By::Identifier(identifier.into())),
    })
}

fn grant_request(identifier: &str, text_version: u32) -> pb::GrantConsentRequest {
    pb::GrantConsentRequest {
        subject: subject("patients", identifier),
        purpose: "research".into(),
        text_version,
        method: pb::ConsentMethod::Bankid.into(),
        channel: "patient-portal".into(),
        ..Default::default()
    }
}

async fn define_research(admin: &Valv, min_text_version: u32) {
    admin
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version,
            explicit_consent: true,
            domains: vec!["patients".into()],
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_receipts_minors_and_the_next_reidentification() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let domains = [
        (
            "patients",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        ),
        (
            "archive",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        ),
        (
            "oneway",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            false,
        ),
    ];
    let t = setup_tenant(
        &operator,
        "clinic",
        &domains,
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let cm = server.client(&t.consent_manager).await;
    let re = server.client(&t.reidentifier).await;
    let tok = server.client(&t.tokenizer).await;
    define_research(&admin, 1).await;

    // Texts: three versions from setup, each with the SHA-256 of its words.
    let texts = admin
        .admin()
        .list_consent_texts(pb::ListConsentTextsRequest {
            purpose: "research".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .texts;
    assert_eq!(
        texts.iter().map(|t| t.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for text in &texts {
        assert_eq!(
            text.sha256,
            hex::encode(sha2::Sha256::digest(text.text.as_bytes()))
        );
    }
    let v4 = cm
        .consents()
        .grant_consent(grant_request(ADULT, 4))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(v4, Some(Code::InvalidArgument));

    // A minor needs a guardian; the guardian must be of age.
    let refused = cm
        .consents()
        .grant_consent(grant_request(MINOR, 1))
        .await
        .err()
        .map(|s| (s.code(), s.message().to_owned()));
    let (code, message) = refused.unwrap_or_else(|| panic!("a minor without guardian passed"));
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.starts_with("guardian: the subject is under the age of consent (16)"));
    assert!(!message.contains("2015") && !message.contains("1236"));
    let minor_guardian = cm
        .consents()
        .grant_consent(pb::GrantConsentRequest {
            guardian: subject("", OTHER_MINOR),
            ..grant_request(MINOR, 1)
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(minor_guardian, Some(Code::InvalidArgument));
    let evidence = b"BankID order 5f0c1e77, signed by the guardian".to_vec();
    let granted = cm
        .consents()
        .grant_consent(pb::GrantConsentRequest {
            guardian: subject("", ADULT),
            evidence: evidence.clone(),
            evidence_media_type: "text/plain".into(),
            ..grant_request(MINOR, 2)
        })
        .await
        .unwrap()
        .into_inner();
    let event = granted.event.unwrap_or_default();
    assert!(event.guardian_ref.starts_with("subject:"));
    assert_eq!(event.evidence_bytes, evidence.len() as u64);
    assert_eq!(event.channel, "patient-portal");
    assert_eq!(event.text_sha256, texts[1].sha256);

    // The receipt: the ISO/IEC TS 27560 fields that apply, no identifier, signed.
    let receipt: serde_json::Value =
        serde_json::from_str(&granted.receipt).unwrap_or(serde_json::Value::Null);
    assert_eq!(receipt["version"], "valv-consent-receipt/1");
    assert_eq!(receipt["tenant"], "clinic");
    assert_eq!(receipt["receipt_id"], event.receipt_id.as_str());
    assert_eq!(receipt["purpose"]["name"], "research");
    assert_eq!(receipt["purpose"]["explicit_consent"], true);
    assert_eq!(receipt["purpose"]["text_version"], 2);
    assert_eq!(receipt["purpose"]["text_sha256"], texts[1].sha256.as_str());
    assert_eq!(receipt["collection_method"], "bankid");
    assert_eq!(receipt["guardian_ref"], event.guardian_ref.as_str());
    assert_eq!(receipt["evidence_stored"], true);
    assert_eq!(receipt["signature"]["alg"], "Ed25519");
    // Every written form of both people's numbers (four-digit fragments would also match the
    // receipt's random ids, hashes and timestamps now and then).
    for secret in [
        MINOR,
        "201506011236",
        "1506011236",
        "150601-1236",
        ADULT,
        "198001011231",
        "8001011231",
        "800101-1231",
        "BankID order",
    ] {
        assert!(!granted.receipt.contains(secret), "{secret} in the receipt");
    }
    let verify = |text: String| {
        let cm = cm.clone();
        async move {
            cm.consents()
                .verify_receipt(pb::VerifyReceiptRequest { receipt: text })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let ok = verify(granted.receipt.clone()).await;
    assert!(ok.valid, "{ok:?}");
    assert_eq!(ok.current_status(), pb::ConsentStatus::Granted);
    // One byte changed anywhere fails (a digit in the validity, a space, the signature).
    let tampered = granted
        .receipt
        .replacen("\"valid_until_ms\": 0", "\"valid_until_ms\": 1", 1);
    assert_ne!(tampered, granted.receipt);
    let bad = verify(tampered).await;
    assert!(!bad.valid && bad.problem.contains("signature"), "{bad:?}");
    let spaced = granted.receipt.replacen("{\n", "{ \n", 1);
    assert!(!verify(spaced).await.valid);
    // Offline, with the exported key: the same verdicts.
    let key = cm
        .consents()
        .get_receipt_key(pb::GetReceiptKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        key.key_id,
        receipt["signature"]["key_id"].as_str().unwrap_or("-")
    );
    assert!(valv_proto::receipt::verify(&granted.receipt, &key.public_key).is_ok());
    // Another tenant's consent manager cannot vouch for this receipt.
    let other = setup_tenant(
        &operator,
        "elsewhere",
        &domains[..1],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let foreign = server
        .client(&other.consent_manager)
        .await
        .consents()
        .verify_receipt(pb::VerifyReceiptRequest {
            receipt: granted.receipt.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!foreign.valid, "{foreign:?}");

    // Age of consent is the tenant's: at 10, the 11-year-old consents alone.
    let settings = admin
        .admin()
        .set_tenant_settings(pb::SetTenantSettingsRequest {
            age_of_consent: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings.age_of_consent, 10);
    cm.consents()
        .grant_consent(grant_request(OTHER_MINOR, 1))
        .await
        .unwrap();
    // In a domain of national identity numbers a grant names the identifier: by pseudonym,
    // whether it needs a guardian would tell the consent desk the person's age.
    let oneway = pseudonymise_ok(&tok, "oneway", &[ADULT]).await;
    let by_oneway = cm
        .consents()
        .grant_consent(pb::GrantConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "oneway".into(),
                by: Some(pb::subject_ref::By::Pseudonym(oneway[0].clone())),
            }),
            ..grant_request(ADULT, 1)
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(by_oneway, Some(Code::FailedPrecondition));

    // Re-identification follows the record at once.
    let ps = pseudonymise_ok(&tok, "patients", &[MINOR, ADULT]).await;
    let verdict = |ps: Vec<String>, domain: &'static str| {
        let re = re.clone();
        async move {
            reidentify(&re, domain, "research", &ps)
                .await
                .unwrap()
                .into_iter()
                .map(|(v, _)| v)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        verdict(ps.clone(), "patients").await,
        [pb::Verdict::Released, pb::Verdict::NoConsent]
    );
    // The purpose covers `patients` only.
    let archived = pseudonymise_ok(&tok, "archive", &[MINOR]).await;
    assert_eq!(verdict(archived, "archive").await, [pb::Verdict::Denied]);
    // Raising the minimum text version makes the v2 consent insufficient at once.
    define_research(&admin, 3).await;
    assert_eq!(
        verdict(ps[..1].to_vec(), "patients").await,
        [pb::Verdict::NoConsent]
    );
    define_research(&admin, 1).await;
    // Expiry at the moment it passes (the clock is moved).
    cm.consents()
        .grant_consent(pb::GrantConsentRequest {
            valid_until_unix_ms: T0_MS + 3_600_000,
            ..grant_request(ADULT, 3)
        })
        .await
        .unwrap();
    assert_eq!(
        verdict(ps[1..].to_vec(), "patients").await,
        [pb::Verdict::Released]
    );
    server.clock.advance_ms(3_600_000);
    assert_eq!(
        verdict(ps[1..].to_vec(), "patients").await,
        [pb::Verdict::ConsentExpired]
    );
    // Withdrawal: the very next call.
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("patients", MINOR),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        verdict(ps[..1].to_vec(), "patients").await,
        [pb::Verdict::ConsentWithdrawn]
    );
    let after = verify(granted.receipt.clone()).await;
    assert!(after.valid);
    assert_eq!(after.current_status(), pb::ConsentStatus::Withdrawn);

    // Evidence is a ciphertext of the tenant key ring: a rotation moves it to the new version.
    let ko = server.client(&t.key_officer).await;
    let under = |versions: Vec<pb::KeyVersionInfo>, v: u32| {
        versions
            .iter()
            .find(|k| k.version == v)
            .map_or(0, |k| k.records)
    };
    let before = key_versions(&ko).await;
    // 3 mappings in reversible domains + 1 evidence record, all under v1.
    assert_eq!(under(before, 1), 4);
    ko.keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap();
    for _ in 0..200 {
        if jobs(&ko)
            .await
            .iter()
            .all(|j| j.state() != pb::JobState::Running)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let job = jobs(&ko).await.into_iter().next().unwrap_or_default();
    assert_eq!((job.state(), job.done), (pb::JobState::Done, 4));
    assert_eq!(under(key_versions(&ko).await, 2), 4);
    valv_e2e::assert_log_lacks(&[
        "201506011236",
        "1506011236",
        "201506014560",
        "198001011231",
        "199505053216",
    ]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn consents_are_listed_by_subject_filtered_paged_and_counted() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "desk",
        &[(
            "patients",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let cm = server.client(&t.consent_manager).await;
    let tok = server.client(&t.tokenizer).await;
    let day = 86_400_000;
    // Adult A: no end; B: ends in 10 days; C: withdrawn; D: text version 1, ends in 60 days.
    let people = [
        "19800101-1231",
        "19520903-5525",
        "200311161632",
        "19950505-3216",
    ];
    let platform = pseudonymise_ok(&tok, "patients", &people).await;
    let ends = [0, T0_MS + 10 * day, 0, T0_MS + 60 * day];
    // The desk knows each person by identifier and by the subject reference on the receipt;
    // no answer of the consent service tells it their pseudonym.
    let mut ps = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let granted = cm
            .consents()
            .grant_consent(pb::GrantConsentRequest {
                valid_until_unix_ms: ends[i],
                ..grant_request(person, if i == 3 { 1 } else { 2 })
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(granted.event.unwrap_or_default().subject_pseudonym, "");
        let receipt: serde_json::Value = serde_json::from_str(&granted.receipt).unwrap();
        ps.push(receipt["subject_ref"].as_str().unwrap().to_owned());
    }
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("patients", people[2]),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    let list = |filter: pb::ListConsentsRequest| {
        let cm = cm.clone();
        async move {
            cm.consents()
                .list_consents(filter)
                .await
                .unwrap()
                .into_inner()
        }
    };
    let pseudonyms = |r: &pb::ListConsentsResponse| {
        assert!(
            r.consents.iter().all(|c| c
                .latest
                .clone()
                .unwrap_or_default()
                .subject_pseudonym
                .is_empty()),
            "no pseudonym for the consent desk"
        );
        let mut p: Vec<String> = r.consents.iter().map(|c| c.subject_ref.clone()).collect();
        p.sort();
        p
    };
    let sorted = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| (*s).clone()).collect();
        v.sort();
        v
    };
    // Everything, by subject reference; no identifier and no pseudonym anywhere.
    let all = list(pb::ListConsentsRequest::default()).await;
    assert_eq!(pseudonyms(&all), sorted(&ps.iter().collect::<Vec<_>>()));
    assert!(
        all.consents
            .iter()
            .all(|c| c.subject_ref.starts_with("subject:"))
    );
    let text = format!("{all:?}");
    assert!(platform.iter().all(|p| !text.contains(p.as_str())));
    for person in people {
        assert!(
            !text.contains(&person.replace('-', "")[2..]),
            "identifier in the list"
        );
    }
    // Expiring within 30 days: B only.
    let soon = list(pb::ListConsentsRequest {
        expiring_after_unix_ms: T0_MS,
        expiring_before_unix_ms: T0_MS + 30 * day,
        ..Default::default()
    })
    .await;
    assert_eq!(pseudonyms(&soon), vec![ps[1].clone()]);
    // Withdrawn: C. Text version below 2: D.
    let withdrawn = list(pb::ListConsentsRequest {
        status: pb::ConsentStatus::Withdrawn.into(),
        ..Default::default()
    })
    .await;
    assert_eq!(pseudonyms(&withdrawn), vec![ps[2].clone()]);
    let old_text = list(pb::ListConsentsRequest {
        text_version_below: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(pseudonyms(&old_text), vec![ps[3].clone()]);
    // Paging one at a time visits each pair once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListConsentsRequest {
            page_size: 1,
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
        seen.extend(pseudonyms(&page));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    assert_eq!(seen, pseudonyms(&all));
    // Counts move with the clock: after 10 days B has expired.
    server.clock.advance_ms(10 * day);
    let stats = cm
        .consents()
        .consent_stats(pb::ConsentStatsRequest {})
        .await
        .unwrap()
        .into_inner()
        .purposes;
    let research = stats
        .iter()
        .find(|p| p.purpose == "research")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (research.granted, research.withdrawn, research.expired),
        (2, 1, 1)
    );
    valv_e2e::assert_log_lacks(&[
        "201506011236",
        "1506011236",
        "201506014560",
        "198001011231",
        "199505053216",
    ]);
    server.stop().await;
}
