//! Nobody alone: the insider attacks on the two-person rule, tried against the real binary. One
//! person holding two principals cannot approve with the second; an operator does not get a
//! tenant's token; one tenant-admin cannot switch a consent gate off or strip a record policy;
//! every such act says in the audit what it changed.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv_client::{Valv, pb};
use valv_e2e::{
    ChildServer, create_domain, init, principal_token, read_audit, setup_tenant, spawn_with,
};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

fn rule_on(data: &std::path::Path, log: &std::path::Path, extra: &[&str]) -> ChildServer {
    let mut args = vec!["--two-person-rule=on"];
    args.extend_from_slice(extra);
    spawn_with(BIN, data, log, &args)
}

fn code<T>(r: Result<T, tonic::Status>) -> Option<Code> {
    r.err().map(|s| s.code())
}

fn message<T>(r: Result<T, tonic::Status>) -> String {
    r.err().map(|s| s.message().to_owned()).unwrap_or_default()
}

/// A `CreatePrincipal` request for one role.
fn principal(
    name: &str,
    role: pb::Role,
    purposes: &[&str],
    enrol: bool,
) -> pb::CreatePrincipalRequest {
    pb::CreatePrincipalRequest {
        name: name.into(),
        roles: vec![role.into()],
        purposes: purposes.iter().map(|p| (*p).to_owned()).collect(),
        enrol,
    }
}

async fn approve(c: &Valv, id: u64) -> Result<pb::ApproveOperationResponse, tonic::Status> {
    c.keys()
        .approve_operation(pb::ApproveOperationRequest { id })
        .await
        .map(tonic::Response::into_inner)
}

async fn entries(reader: &Valv, operator_chain: bool) -> Vec<pb::AuditEntry> {
    read_audit(
        reader,
        pb::ReadAuditRequest {
            operator_chain,
            ..Default::default()
        },
    )
    .await
    .0
}

fn changes(e: &pb::AuditEntry) -> Vec<(String, String, String)> {
    e.changes
        .iter()
        .map(|c| (c.field.clone(), c.before.clone(), c.after.clone()))
        .collect()
}

/// Finding 1: principals created while the rule was off, with their tokens handed to one
/// creator, are one person's. Once the rule is on, neither an operator with the operator it made
/// nor two key officers made by one tenant-admin can approve each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_whose_tokens_one_creator_held_cannot_approve_each_other() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let server = spawn_with(BIN, &data, &log, &[]);
    let o1 = server.client(&server.operator_token).await;
    let o2_token = principal_token(&o1, "second-operator", pb::Role::Operator).await;
    let t = setup_tenant(
        &o1,
        "clinic",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let k2_token = principal_token(&admin, "second-officer", pb::Role::KeyOfficer).await;
    let tok = server.client(&t.tokenizer).await;
    let ids: Vec<String> = (0..700).map(|i| format!("p-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    valv_e2e::pseudonymise_ok(&tok, "d", &refs).await;
    server.terminate();

    // A slow rotation keeps version 1 decrypt-only with records under it.
    let server = rule_on(&data, &log, &["--rotation-records-per-second=1"]);
    server
        .client(&t.key_officer)
        .await
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap();
    let (o1, o2) = (
        server.client(&server.operator_token).await,
        server.client(&o2_token).await,
    );
    let filed = o1
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!filed.rotated);
    let own = approve(&o1, filed.pending_operation_id).await;
    assert_eq!(code(own), Some(Code::PermissionDenied));
    let made = approve(&o2, filed.pending_operation_id).await;
    assert!(
        message(made).contains("the requester created the approver"),
        "an operator cannot approve with the operator it made"
    );

    let (k1, k2) = (
        server.client(&t.key_officer).await,
        server.client(&k2_token).await,
    );
    let destroy = k1
        .keys()
        .destroy_key_version(pb::DestroyKeyVersionRequest {
            version: 1,
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!destroy.destroyed);
    let same = approve(&k2, destroy.pending_operation_id).await;
    assert!(
        message(same).contains("both tokens were handed to the same creator"),
        "two key officers of one tenant-admin are one person"
    );
    let versions = valv_e2e::key_versions(&k1).await;
    assert_eq!(versions.len(), 2, "nothing was destroyed: {versions:?}");

    // A key officer made now needs a second tenant-admin: this tenant has one, so it never exists.
    let admin = server.client(&t.admin).await;
    let r = admin
        .admin()
        .create_principal(principal("third-officer", pb::Role::KeyOfficer, &[], false))
        .await
        .unwrap()
        .into_inner();
    assert!(r.token.is_empty(), "no token before approval");
    assert!(r.pending_operation_id > 0);
    let code_text = r.enrolment.unwrap().code;
    let early = admin
        .admin()
        .claim_enrolment(pb::ClaimEnrolmentRequest {
            code: code_text.clone(),
        })
        .await;
    assert_eq!(
        code(early),
        Some(Code::Unauthenticated),
        "not before approval"
    );
    assert_eq!(
        code(approve(&admin, r.pending_operation_id).await),
        Some(Code::PermissionDenied)
    );
    // The key officer cannot approve a principal either (wrong role), and learns nothing.
    assert_eq!(
        code(approve(&k1, r.pending_operation_id).await),
        Some(Code::PermissionDenied)
    );
    let pending = admin
        .keys()
        .list_pending_operations(pb::ListPendingOperationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .operations;
    let op = pending
        .iter()
        .find(|o| o.kind == "create-principal")
        .unwrap();
    assert_eq!(
        op.changes
            .iter()
            .map(|c| (c.field.as_str(), c.after.as_str()))
            .collect::<Vec<_>>(),
        vec![("roles", "key-officer")]
    );
    server.terminate();
}

/// Findings 2 and 3: the operator gets enrolment codes, not tokens, and a code used by anyone
/// else is refused to its holder and visible in the tenant's chain; one tenant-admin cannot
/// change a purpose's legal basis, lower its minimum text version, strip a record policy or make
/// a re-identifier alone; narrowing takes effect at once; every change is in the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_admin_cannot_widen_release_and_the_operator_holds_no_tenant_token() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let server = rule_on(&data, &log, &[]);
    let operator = server.client(&server.operator_token).await;
    let created = operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: "region".into(),
            admin_name: String::new(),
            admins: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.admins.len(), 2, "two administrators under the rule");
    let one = operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: "lonely".into(),
            admin_name: String::new(),
            admins: 1,
        })
        .await;
    assert_eq!(code(one), Some(Code::InvalidArgument));
    let codes: Vec<String> = created.admins.iter().map(|e| e.code.clone()).collect();
    assert!(codes.iter().all(|c| c.starts_with("valvenrol_")));
    // The operator uses the first code itself …
    let (admin, admin_token) = operator.enrol(&codes[0]).await.unwrap();
    // … and the administrator it was meant for is refused, and told why.
    let rightful = operator.enrol(&codes[0]).await;
    assert!(
        rightful
            .err()
            .is_some_and(|e| e.to_string().contains("claimed before")),
        "a second claim is refused"
    );
    let (admin2, _) = operator.enrol(&codes[1]).await.unwrap();
    let auditor = server
        .client(&principal_token(&admin2, "auditor", pb::Role::Auditor).await)
        .await;
    let chain = entries(&auditor, false).await;
    let operator_id = server.operator_token.split('_').nth(1).unwrap().to_owned();
    assert_eq!(chain[0].action, "tenant.create");
    assert_eq!(
        chain[0].principal, operator_id,
        "the chain names its creator"
    );
    let claims: Vec<&str> = chain
        .iter()
        .filter(|e| e.action == "principal.enrol")
        .map(|e| e.verdict.as_str())
        .collect();
    assert_eq!(claims, ["ok", "refused-claimed-before", "ok"]);
    assert!(!admin_token.is_empty());

    // A re-identifier needs the second administrator.
    create_domain(
        &admin,
        "d",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        true,
        0,
    )
    .await
    .unwrap();
    let define = |min: u32, basis: pb::LegalBasis| pb::DefinePurposeRequest {
        name: "research".into(),
        legal_basis: basis.into(),
        min_text_version: min,
        ..Default::default()
    };
    let d = admin
        .admin()
        .define_purpose(define(2, pb::LegalBasis::Consent))
        .await
        .unwrap()
        .into_inner();
    assert!(
        d.created && d.pending_operation_id == 0,
        "a new purpose widens nothing"
    );
    let r = admin
        .admin()
        .create_principal(principal(
            "analyst",
            pb::Role::Reidentifier,
            &["research"],
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.pending_operation_id > 0 && r.token.is_empty());
    assert_eq!(
        code(approve(&admin, r.pending_operation_id).await),
        Some(Code::PermissionDenied)
    );
    approve(&admin2, r.pending_operation_id).await.unwrap();
    let (analyst, _) = operator.enrol(&r.enrolment.unwrap().code).await.unwrap();
    // An approver made after the request does not count.
    let new_admin = |name: &str| principal(name, pb::Role::TenantAdmin, &[], false);
    let third = admin
        .admin()
        .create_principal(new_admin("admin-3"))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let fourth = admin
        .admin()
        .create_principal(new_admin("admin-4"))
        .await
        .unwrap()
        .into_inner();
    approve(&admin2, fourth.pending_operation_id).await.unwrap();
    let (admin4, _) = operator
        .enrol(&fourth.enrolment.unwrap().code)
        .await
        .unwrap();
    let late = approve(&admin4, third.pending_operation_id).await;
    assert!(message(late).contains("after the request was filed"));
    approve(&admin2, third.pending_operation_id).await.unwrap();
    let tok = server
        .client(&principal_token(&admin, "ingest", pb::Role::Tokenizer).await)
        .await;
    let ps = valv_e2e::pseudonymise_ok(&tok, "d", &["patient-1"]).await;

    // Finding 3: the legal basis is fixed …
    let basis = admin
        .admin()
        .define_purpose(define(2, pb::LegalBasis::LegitimateInterests))
        .await;
    assert_eq!(code(basis), Some(Code::InvalidArgument));
    // … lowering the minimum text version waits for the second administrator …
    let lower = admin
        .admin()
        .define_purpose(define(1, pb::LegalBasis::Consent))
        .await
        .unwrap()
        .into_inner();
    assert!(lower.pending_operation_id > 0);
    // Another tenant's administrators neither see nor decide on it.
    let (other, _) = valv_e2e::create_tenant(&operator, "other").await;
    let other = server.client(&other).await;
    let listed = other
        .keys()
        .list_pending_operations(pb::ListPendingOperationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .operations;
    assert!(listed.is_empty());
    assert_eq!(
        code(approve(&other, lower.pending_operation_id).await),
        Some(Code::NotFound)
    );
    let foreign = other
        .keys()
        .refuse_operation(pb::RefuseOperationRequest {
            id: lower.pending_operation_id,
        })
        .await;
    assert_eq!(code(foreign), Some(Code::NotFound));
    assert_eq!(
        lower.purpose.unwrap().min_text_version,
        2,
        "unchanged while pending"
    );
    let verdict = valv_e2e::reidentify(&analyst, "d", "research", &ps)
        .await
        .unwrap();
    assert_eq!(
        verdict[0].0,
        pb::Verdict::NoConsent,
        "no release without consent"
    );
    // … raising it takes effect at once.
    let raise = admin
        .admin()
        .define_purpose(define(3, pb::LegalBasis::Consent))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(raise.pending_operation_id, 0);
    assert_eq!(raise.purpose.unwrap().min_text_version, 3);
    // The pending lowering (2 → 1) is refused by the second administrator.
    admin2
        .keys()
        .refuse_operation(pb::RefuseOperationRequest {
            id: lower.pending_operation_id,
        })
        .await
        .unwrap();
    assert_eq!(
        code(approve(&admin2, lower.pending_operation_id).await),
        Some(Code::FailedPrecondition)
    );

    // A record policy that protects less waits too; one that protects more does not.
    let policy = |fields: Vec<(&str, bool)>| pb::DefineRecordPolicyRequest {
        policy: Some(pb::RecordPolicy {
            name: "visits".into(),
            fields: fields
                .into_iter()
                .map(|(pointer, required)| pb::RecordField {
                    pointer: pointer.into(),
                    domain: "d".into(),
                    required,
                })
                .collect(),
            drop: vec![],
            updated_unix_ms: 0,
        }),
    };
    let first = admin
        .admin()
        .define_record_policy(policy(vec![("/id", true), ("/other", false)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.pending_operation_id, 0);
    let strip = admin
        .admin()
        .define_record_policy(policy(vec![("/other", false)]))
        .await
        .unwrap()
        .into_inner();
    assert!(strip.pending_operation_id > 0, "removing a field waits");
    let deleted = admin
        .admin()
        .delete_record_policy(pb::DeleteRecordPolicyRequest {
            name: "visits".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!deleted.deleted && deleted.pending_operation_id > 0);
    approve(&admin2, strip.pending_operation_id).await.unwrap();
    let stored = admin
        .admin()
        .list_record_policies(pb::ListRecordPoliciesRequest {})
        .await
        .unwrap()
        .into_inner()
        .policies;
    assert_eq!(
        stored[0].fields.len(),
        1,
        "approved by the second administrator"
    );

    // The audit says what changed, in the tenant's chain.
    let chain = entries(&auditor, false).await;
    let find = |action: &str| {
        chain
            .iter()
            .filter(|e| e.action == action)
            .map(changes)
            .collect::<Vec<_>>()
    };
    let purposes = find("purpose.define");
    assert!(purposes.contains(&vec![("min_text_version".into(), "2".into(), "3".into())]));
    assert!(find("define-purpose.request").contains(&vec![(
        "min_text_version".into(),
        "2".into(),
        "1".into()
    )]));
    assert!(find("define-purpose.refuse").len() == 1);
    assert!(find("principal.create").contains(&vec![
        ("roles".into(), String::new(), "reidentifier".into()),
        ("purposes".into(), String::new(), "research".into()),
    ]));
    assert!(find("record-policy.define").iter().any(|c| c.contains(&(
        "field /id".into(),
        "d required".into(),
        String::new()
    ))));
    server.terminate();
}

/// Codes and pending operations expire; each expiry is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_codes_and_pending_operations_expire() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let server = rule_on(
        &data,
        &log,
        &["--enrolment-seconds=1", "--approval-window-seconds=1"],
    );
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let r = admin
        .admin()
        .create_principal(principal("late", pb::Role::Tokenizer, &[], true))
        .await
        .unwrap()
        .into_inner();
    let pending = admin
        .admin()
        .create_principal(principal("late-admin", pb::Role::TenantAdmin, &[], false))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let late = operator.enrol(&r.enrolment.unwrap().code).await;
    assert!(
        late.err()
            .is_some_and(|e| e.to_string().contains("expired"))
    );
    let admin2 = server.client(&t.admin2).await;
    let over = approve(&admin2, pending.pending_operation_id).await;
    assert!(message(over).contains("window has passed"));
    let auditor = server.client(&t.auditor).await;
    let actions: Vec<String> = entries(&auditor, false)
        .await
        .iter()
        .map(|e| format!("{} {}", e.action, e.verdict))
        .collect();
    assert!(
        actions.contains(&"create-principal.expire expired".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"principal.enrol refused-expired".to_owned()),
        "{actions:?}"
    );
    server.terminate();
}

/// Finding 8: the consent desk knows people by identifier, so it is never told their pseudonym,
/// and never told the age of a person it names by pseudonym: a grant by pseudonym in a domain
/// of national identity numbers is refused the same way for a child and an adult.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_desk_learns_no_pseudonym_and_no_age() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let server = spawn_with(BIN, &data, &log, &[]);
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[(
            "patients",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let (child, adult) = ("20150601-1236", "19800101-1231");
    let tok = server.client(&t.tokenizer).await;
    let ps = valv_e2e::pseudonymise_ok(&tok, "patients", &[child, adult]).await;
    let desk = server.client(&t.consent_manager).await;
    let by_pseudonym = |p: &str| pb::GrantConsentRequest {
        subject: Some(pb::SubjectRef {
            domain: "patients".into(),
            by: Some(pb::subject_ref::By::Pseudonym(p.into())),
        }),
        ..valv_e2e::grant("patients", "", "research", 1, 0)
    };
    let mut answers = Vec::new();
    for p in &ps {
        let status = desk
            .consents()
            .grant_consent(by_pseudonym(p))
            .await
            .err()
            .unwrap();
        answers.push((status.code(), status.message().to_owned()));
    }
    assert_eq!(
        answers[0], answers[1],
        "a child and an adult get the same answer"
    );
    assert_eq!(answers[0].0, Code::FailedPrecondition);
    assert!(!answers[0].1.contains("under the age"));
    // By identifier the grant works; its answer holds no pseudonym.
    let granted = desk
        .consents()
        .grant_consent(valv_e2e::grant("patients", adult, "research", 1, 0))
        .await
        .unwrap()
        .into_inner();
    let event = granted.event.unwrap();
    assert_eq!(
        (
            event.subject_domain.as_str(),
            event.subject_pseudonym.as_str()
        ),
        ("", "")
    );
    assert!(!granted.receipt.contains(&ps[1]));
    let history = desk
        .consents()
        .get_consent_history(pb::GetConsentHistoryRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier(adult.into())),
            }),
            purpose: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{history:?}").contains(&ps[1]));
    // The event stream: the data platform gets the pseudonym, the desk only the reference.
    let stream = |c: Valv| async move {
        let mut s = c
            .subjects()
            .watch_subject_events(pb::WatchSubjectEventsRequest {
                after_seq: 0,
                follow: false,
            })
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(e) = s.message().await.unwrap() {
            out.push(e);
        }
        out
    };
    let for_platform = stream(tok.clone()).await;
    let for_desk = stream(desk.clone()).await;
    assert_eq!(for_platform.len(), 1);
    assert_eq!(for_platform[0].pseudonym, ps[1]);
    assert_eq!(for_desk.len(), 1);
    assert_eq!(for_desk[0].subject_ref, for_platform[0].subject_ref);
    assert_eq!(for_desk[0].pseudonym, "");
    server.terminate();
}
