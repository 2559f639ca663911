//! Who may do what: every role against every RPC, tenants against each other, and callers
//! without a valid credential.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv_e2e::{pb, *};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateTenant,
    CreateDomain,
    ListDomains,
    DefinePurpose,
    ListPurposes,
    CreatePrincipal,
    RevokePrincipal,
    ListPrincipals,
    Pseudonymise,
    PseudonymiseStream,
    ReIdentify,
    GrantConsent,
    WithdrawConsent,
    GetConsentHistory,
    ReadAudit,
    VerifyAudit,
    GetAuditKey,
    VerifyOperatorAudit,
    ListKeyVersions,
    RotateTenantKey,
    GetJob,
    WatchJob,
    ListJobs,
    DestroyKeyVersion,
    ApproveOperation,
    ListPendingOperations,
    RotateRootKey,
    ShredTenant,
    RotateDomainEpoch,
    TranslateEpoch,
    FinalizeEpoch,
    Seal,
    AddConsentText,
    ListConsentTexts,
    GetTenantSettings,
    SetTenantSettings,
    VerifyReceipt,
    GetReceiptKey,
    ListConsents,
    ConsentStats,
    ExportSubject,
    EraseSubject,
    RestrictSubject,
    LiftRestriction,
    WatchSubjectEvents,
    PlanRetention,
    RunRetention,
    DefineRecordPolicy,
    ListRecordPolicies,
    GetRecordOfProcessing,
    DeleteRecordPolicy,
    PseudonymiseRecords,
    ReIdentifyRecords,
    GetLimits,
    CheckIdentifiers,
    RefuseOperation,
    ClaimEnrolment,
    BindClientCertificate,
    DefineSharingAgreement,
    ListSharingAgreements,
    RevokeSharingAgreement,
    TranslatePseudonyms,
    TranslatePseudonymsStream,
}

const ALL: [Rpc; 63] = [
    Rpc::CreateTenant,
    Rpc::CreateDomain,
    Rpc::ListDomains,
    Rpc::DefinePurpose,
    Rpc::ListPurposes,
    Rpc::CreatePrincipal,
    Rpc::RevokePrincipal,
    Rpc::ListPrincipals,
    Rpc::Pseudonymise,
    Rpc::PseudonymiseStream,
    Rpc::ReIdentify,
    Rpc::GrantConsent,
    Rpc::WithdrawConsent,
    Rpc::GetConsentHistory,
    Rpc::ReadAudit,
    Rpc::VerifyAudit,
    Rpc::GetAuditKey,
    Rpc::VerifyOperatorAudit,
    Rpc::ListKeyVersions,
    Rpc::RotateTenantKey,
    Rpc::GetJob,
    Rpc::WatchJob,
    Rpc::ListJobs,
    Rpc::DestroyKeyVersion,
    Rpc::ApproveOperation,
    Rpc::ListPendingOperations,
    Rpc::RotateRootKey,
    Rpc::ShredTenant,
    Rpc::RotateDomainEpoch,
    Rpc::TranslateEpoch,
    Rpc::FinalizeEpoch,
    Rpc::Seal,
    Rpc::AddConsentText,
    Rpc::ListConsentTexts,
    Rpc::GetTenantSettings,
    Rpc::SetTenantSettings,
    Rpc::VerifyReceipt,
    Rpc::GetReceiptKey,
    Rpc::ListConsents,
    Rpc::ConsentStats,
    Rpc::ExportSubject,
    Rpc::EraseSubject,
    Rpc::RestrictSubject,
    Rpc::LiftRestriction,
    Rpc::WatchSubjectEvents,
    Rpc::PlanRetention,
    Rpc::RunRetention,
    Rpc::DefineRecordPolicy,
    Rpc::ListRecordPolicies,
    Rpc::GetRecordOfProcessing,
    Rpc::DeleteRecordPolicy,
    Rpc::PseudonymiseRecords,
    Rpc::ReIdentifyRecords,
    Rpc::GetLimits,
    Rpc::CheckIdentifiers,
    Rpc::RefuseOperation,
    Rpc::ClaimEnrolment,
    Rpc::BindClientCertificate,
    Rpc::DefineSharingAgreement,
    Rpc::ListSharingAgreements,
    Rpc::RevokeSharingAgreement,
    Rpc::TranslatePseudonyms,
    Rpc::TranslatePseudonymsStream,
];

fn allowed_roles(rpc: Rpc) -> Vec<pb::Role> {
    match rpc {
        // Operators decide on operator operations; key officers and tenant-admins on their
        // tenant's (each the kinds its role approves).
        Rpc::ApproveOperation | Rpc::ListPendingOperations | Rpc::RefuseOperation => {
            vec![
                pb::Role::KeyOfficer,
                pb::Role::TenantAdmin,
                pb::Role::Operator,
            ]
        }
        // A claim needs no credential (the code is one); a binding any principal's own token.
        Rpc::ClaimEnrolment | Rpc::BindClientCertificate => vec![
            pb::Role::Operator,
            pb::Role::TenantAdmin,
            pb::Role::Tokenizer,
            pb::Role::Reidentifier,
            pb::Role::ConsentManager,
            pb::Role::SubjectOfficer,
            pb::Role::KeyOfficer,
            pb::Role::Auditor,
            pb::Role::Translator,
        ],
        Rpc::ListConsentTexts => vec![pb::Role::TenantAdmin, pb::Role::ConsentManager],
        Rpc::GetRecordOfProcessing => vec![pb::Role::TenantAdmin, pb::Role::Auditor],
        Rpc::ListSharingAgreements => vec![
            pb::Role::TenantAdmin,
            pb::Role::Auditor,
            pb::Role::Translator,
        ],
        Rpc::PlanRetention => vec![pb::Role::TenantAdmin, pb::Role::SubjectOfficer],
        Rpc::WatchSubjectEvents => vec![
            pb::Role::Tokenizer,
            pb::Role::ConsentManager,
            pb::Role::SubjectOfficer,
        ],
        Rpc::VerifyReceipt | Rpc::GetReceiptKey => {
            vec![pb::Role::ConsentManager, pb::Role::Auditor]
        }
        // Any authenticated principal may read the limits.
        Rpc::GetLimits => vec![
            pb::Role::Operator,
            pb::Role::TenantAdmin,
            pb::Role::Tokenizer,
            pb::Role::Reidentifier,
            pb::Role::ConsentManager,
            pb::Role::SubjectOfficer,
            pb::Role::KeyOfficer,
            pb::Role::Auditor,
            pb::Role::Translator,
        ],
        other => vec![single_role(other)],
    }
}

fn single_role(rpc: Rpc) -> pb::Role {
    match rpc {
        Rpc::CreateTenant
        | Rpc::VerifyOperatorAudit
        | Rpc::RotateRootKey
        | Rpc::ShredTenant
        | Rpc::Seal => pb::Role::Operator,
        Rpc::ReadAudit | Rpc::VerifyAudit | Rpc::GetAuditKey => pb::Role::Auditor,
        Rpc::ExportSubject | Rpc::EraseSubject | Rpc::RestrictSubject | Rpc::LiftRestriction => {
            pb::Role::SubjectOfficer
        }
        Rpc::ListKeyVersions
        | Rpc::RotateTenantKey
        | Rpc::GetJob
        | Rpc::WatchJob
        | Rpc::ListJobs
        | Rpc::DestroyKeyVersion
        | Rpc::ApproveOperation
        | Rpc::ListPendingOperations
        | Rpc::RotateDomainEpoch
        | Rpc::TranslateEpoch
        | Rpc::FinalizeEpoch => pb::Role::KeyOfficer,
        Rpc::Pseudonymise
        | Rpc::PseudonymiseStream
        | Rpc::PseudonymiseRecords
        | Rpc::CheckIdentifiers => pb::Role::Tokenizer,
        Rpc::ReIdentify | Rpc::ReIdentifyRecords => pb::Role::Reidentifier,
        Rpc::TranslatePseudonyms | Rpc::TranslatePseudonymsStream => pb::Role::Translator,
        Rpc::GrantConsent
        | Rpc::WithdrawConsent
        | Rpc::GetConsentHistory
        | Rpc::ListConsents
        | Rpc::ConsentStats => pb::Role::ConsentManager,
        _ => pb::Role::TenantAdmin,
    }
}

fn subject() -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: "d".into(),
        by: Some(pb::subject_ref::By::Identifier("anna@example.se".into())),
    })
}

/// Makes one call of `rpc`; `n` keeps names unique.
async fn call(rpc: Rpc, c: &Valv, n: usize) -> Result<(), tonic::Status> {
    match rpc {
        Rpc::CreateTenant => c
            .admin()
            .create_tenant(pb::CreateTenantRequest {
                name: format!("t{n}"),
                admin_name: String::new(),
                admins: 0,
            })
            .await
            .map(drop),
        Rpc::CreateDomain => c
            .admin()
            .create_domain(pb::CreateDomainRequest {
                name: format!("d{n}"),
                kind: pb::IdentifierKind::Email.into(),
                scheme: pb::Scheme::Keyed.into(),
                reversible: true,
                retention_seconds: 0,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ListDomains => c
            .admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .map(drop),
        Rpc::DefinePurpose => c
            .admin()
            .define_purpose(pb::DefinePurposeRequest {
                name: format!("p{n}"),
                legal_basis: pb::LegalBasis::Contract.into(),
                min_text_version: 0,
                default_consent_validity_seconds: 0,
                description: String::new(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ListPurposes => c
            .admin()
            .list_purposes(pb::ListPurposesRequest {})
            .await
            .map(drop),
        Rpc::CreatePrincipal => c
            .admin()
            .create_principal(pb::CreatePrincipalRequest {
                name: format!("x{n}"),
                roles: vec![pb::Role::Auditor.into()],
                purposes: vec![],
                enrol: false,
            })
            .await
            .map(drop),
        Rpc::RevokePrincipal => c
            .admin()
            .revoke_principal(pb::RevokePrincipalRequest {
                id: "0000000000000000".into(),
            })
            .await
            .map(drop),
        Rpc::ListPrincipals => c
            .admin()
            .list_principals(pb::ListPrincipalsRequest {})
            .await
            .map(drop),
        Rpc::Pseudonymise => c
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain: "d".into(),
                identifiers: vec!["anna@example.se".into()],
                batch_id: 0,
            })
            .await
            .map(drop),
        Rpc::PseudonymiseStream => {
            let batch = pb::PseudonymiseRequest {
                domain: "d".into(),
                identifiers: vec!["anna@example.se".into()],
                batch_id: 1,
            };
            let mut replies = c
                .pseudonyms()
                .pseudonymise_stream(tokio_stream::iter(vec![batch]))
                .await?
                .into_inner();
            replies.message().await.map(drop)
        }
        Rpc::ReIdentify => c
            .pseudonyms()
            .re_identify(pb::ReIdentifyRequest {
                domain: "d".into(),
                purpose: "research".into(),
                pseudonyms: vec!["x".into()],
            })
            .await
            .map(drop),
        Rpc::GrantConsent => c
            .consents()
            .grant_consent(pb::GrantConsentRequest {
                subject: subject(),
                purpose: "research".into(),
                text_version: 1,
                method: pb::ConsentMethod::Web.into(),
                valid_until_unix_ms: 0,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::WithdrawConsent => c
            .consents()
            .withdraw_consent(pb::WithdrawConsentRequest {
                subject: subject(),
                purpose: "research".into(),
            })
            .await
            .map(drop),
        Rpc::GetConsentHistory => c
            .consents()
            .get_consent_history(pb::GetConsentHistoryRequest {
                subject: subject(),
                purpose: String::new(),
            })
            .await
            .map(drop),
        Rpc::ReadAudit => {
            let mut stream = c
                .audit()
                .read_audit(pb::ReadAuditRequest::default())
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        Rpc::VerifyAudit => c
            .audit()
            .verify_audit(pb::VerifyAuditRequest {
                operator_chain: false,
            })
            .await
            .map(drop),
        Rpc::GetAuditKey => c
            .audit()
            .get_audit_key(pb::GetAuditKeyRequest {
                operator_chain: false,
            })
            .await
            .map(drop),
        Rpc::VerifyOperatorAudit => c
            .audit()
            .verify_audit(pb::VerifyAuditRequest {
                operator_chain: true,
            })
            .await
            .map(drop),
        Rpc::ListKeyVersions => c
            .keys()
            .list_key_versions(pb::ListKeyVersionsRequest {})
            .await
            .map(drop),
        Rpc::RotateTenantKey => c
            .keys()
            .rotate_tenant_key(pb::RotateTenantKeyRequest {})
            .await
            .map(drop),
        // Job 1 is no job of this tenant: an allowed caller gets NOT_FOUND.
        Rpc::GetJob => c
            .keys()
            .get_job(pb::GetJobRequest { id: 1 })
            .await
            .map(drop),
        Rpc::WatchJob => c
            .keys()
            .watch_job(pb::GetJobRequest { id: 1 })
            .await
            .map(drop),
        Rpc::ListJobs => c.keys().list_jobs(pb::ListJobsRequest {}).await.map(drop),
        // v1 was rotated away above (an allowed caller gets FAILED_PRECONDITION), and operation
        // 1 is none of this tenant's (NOT_FOUND).
        Rpc::DestroyKeyVersion => c
            .keys()
            .destroy_key_version(pb::DestroyKeyVersionRequest {
                version: 1,
                force: false,
            })
            .await
            .map(drop),
        Rpc::ApproveOperation => c
            .keys()
            .approve_operation(pb::ApproveOperationRequest { id: 1 })
            .await
            .map(drop),
        Rpc::ListPendingOperations => c
            .keys()
            .list_pending_operations(pb::ListPendingOperationsRequest {})
            .await
            .map(drop),
        Rpc::RefuseOperation => c
            .keys()
            .refuse_operation(pb::RefuseOperationRequest { id: 1 })
            .await
            .map(drop),
        Rpc::ClaimEnrolment => c
            .admin()
            .claim_enrolment(pb::ClaimEnrolmentRequest {
                code: format!("valvenrol_{:016x}_{}", n, "a".repeat(52)),
            })
            .await
            .map(drop),
        Rpc::BindClientCertificate => c
            .admin()
            .bind_client_certificate(pb::BindClientCertificateRequest {})
            .await
            .map(drop),
        Rpc::AddConsentText => c
            .admin()
            .add_consent_text(pb::AddConsentTextRequest {
                purpose: "research".into(),
                text: format!("text {n}"),
            })
            .await
            .map(drop),
        Rpc::ListConsentTexts => c
            .admin()
            .list_consent_texts(pb::ListConsentTextsRequest {
                purpose: "research".into(),
            })
            .await
            .map(drop),
        Rpc::GetTenantSettings => c
            .admin()
            .get_tenant_settings(pb::GetTenantSettingsRequest {})
            .await
            .map(drop),
        Rpc::SetTenantSettings => c
            .admin()
            .set_tenant_settings(pb::SetTenantSettingsRequest {
                age_of_consent: 16,
                ..Default::default()
            })
            .await
            .map(drop),
        // Not a receipt: an allowed caller gets an answer saying so (valid: false).
        Rpc::VerifyReceipt => c
            .consents()
            .verify_receipt(pb::VerifyReceiptRequest {
                receipt: "{}".into(),
            })
            .await
            .map(drop),
        Rpc::ExportSubject => c
            .subjects()
            .export_subject(pb::ExportSubjectRequest { subject: subject() })
            .await
            .map(drop),
        // Last in the matrix for the subject officer: the subject is erased afterwards.
        Rpc::EraseSubject => c
            .subjects()
            .erase_subject(pb::EraseSubjectRequest { subject: subject() })
            .await
            .map(drop),
        Rpc::RestrictSubject => c
            .subjects()
            .restrict_subject(pb::RestrictSubjectRequest {
                subject: subject(),
                reason: "complaint".into(),
            })
            .await
            .map(drop),
        Rpc::LiftRestriction => c
            .subjects()
            .lift_restriction(pb::LiftRestrictionRequest { subject: subject() })
            .await
            .map(drop),
        Rpc::WatchSubjectEvents => {
            let mut stream = c
                .subjects()
                .watch_subject_events(pb::WatchSubjectEventsRequest {
                    after_seq: 0,
                    follow: false,
                })
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        Rpc::PlanRetention => c
            .retention()
            .plan_retention(pb::PlanRetentionRequest::default())
            .await
            .map(drop),
        Rpc::RunRetention => c
            .retention()
            .run_retention(pb::RunRetentionRequest {})
            .await
            .map(drop),
        Rpc::ListConsents => c
            .consents()
            .list_consents(pb::ListConsentsRequest::default())
            .await
            .map(drop),
        Rpc::ConsentStats => c
            .consents()
            .consent_stats(pb::ConsentStatsRequest {})
            .await
            .map(drop),
        Rpc::GetReceiptKey => c
            .consents()
            .get_receipt_key(pb::GetReceiptKeyRequest {})
            .await
            .map(drop),
        // This vault has no seal: an allowed caller gets FAILED_PRECONDITION.
        Rpc::Seal => c.seal().seal(pb::SealRequest {}).await.map(drop),
        Rpc::RotateRootKey => c
            .keys()
            .rotate_root_key(pb::RotateRootKeyRequest::default())
            .await
            .map(drop),
        // No such tenant: an allowed caller gets NOT_FOUND (shredding `acme` would end the test).
        Rpc::ShredTenant => c
            .keys()
            .shred_tenant(pb::ShredTenantRequest {
                tenant: "nobody".into(),
            })
            .await
            .map(drop),
        Rpc::RotateDomainEpoch => c
            .keys()
            .rotate_domain_epoch(pb::RotateDomainEpochRequest {
                domain: "d".into(),
                grace_seconds: 0,
            })
            .await
            .map(drop),
        Rpc::TranslateEpoch => {
            let mut stream = c
                .keys()
                .translate_epoch(pb::TranslateEpochRequest { domain: "d".into() })
                .await?
                .into_inner();
            while stream.message().await?.is_some() {}
            Ok(())
        }
        Rpc::FinalizeEpoch => c
            .keys()
            .finalize_epoch(pb::FinalizeEpochRequest { domain: "d".into() })
            .await
            .map(drop),
        Rpc::DefineRecordPolicy => c
            .admin()
            .define_record_policy(record_policy(&format!("rp{n}")))
            .await
            .map(drop),
        Rpc::ListRecordPolicies => c
            .admin()
            .list_record_policies(pb::ListRecordPoliciesRequest {})
            .await
            .map(drop),
        Rpc::GetRecordOfProcessing => c
            .admin()
            .get_record_of_processing(pb::GetRecordOfProcessingRequest {})
            .await
            .map(drop),
        // No such policy: an allowed caller gets NOT_FOUND.
        Rpc::DeleteRecordPolicy => c
            .admin()
            .delete_record_policy(pb::DeleteRecordPolicyRequest {
                name: format!("none{n}"),
            })
            .await
            .map(drop),
        Rpc::PseudonymiseRecords => c
            .pseudonyms()
            .pseudonymise_records(pb::PseudonymiseRecordsRequest {
                policy: "rp".into(),
                records: vec![br#"{"e":"anna@example.se"}"#.to_vec()],
                batch_id: 0,
            })
            .await
            .map(drop),
        Rpc::CheckIdentifiers => c
            .pseudonyms()
            .check_identifiers(pb::CheckIdentifiersRequest {
                domain: "d".into(),
                identifiers: vec!["anna@example.se".into()],
            })
            .await
            .map(drop),
        Rpc::GetLimits => c
            .pseudonyms()
            .get_limits(pb::GetLimitsRequest {})
            .await
            .map(drop),
        Rpc::ReIdentifyRecords => c
            .pseudonyms()
            .re_identify_records(pb::ReIdentifyRecordsRequest {
                policy: "rp".into(),
                purpose: "research".into(),
                records: vec![br#"{"e":"x"}"#.to_vec()],
            })
            .await
            .map(drop),
        Rpc::DefineSharingAgreement => c
            .admin()
            .define_sharing_agreement(sharing_agreement(&format!("s{n}")))
            .await
            .map(drop),
        Rpc::ListSharingAgreements => c
            .admin()
            .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
            .await
            .map(drop),
        Rpc::RevokeSharingAgreement => c
            .admin()
            .revoke_sharing_agreement(pb::RevokeSharingAgreementRequest {
                name: format!("s{n}"),
            })
            .await
            .map(drop),
        Rpc::TranslatePseudonyms => c
            .pseudonyms()
            .translate_pseudonyms(pb::TranslatePseudonymsRequest {
                agreement: "share".into(),
                pseudonyms: vec!["x".into()],
                batch_id: 0,
            })
            .await
            .map(drop),
        Rpc::TranslatePseudonymsStream => {
            let batch = pb::TranslatePseudonymsRequest {
                agreement: "share".into(),
                pseudonyms: vec!["x".into()],
                batch_id: 1,
            };
            let mut replies = c
                .pseudonyms()
                .translate_pseudonyms_stream(tokio_stream::iter(vec![batch]))
                .await?
                .into_inner();
            replies.message().await.map(drop)
        }
    }
}

/// An agreement from `d` to `d2` for `research`, valid for a year.
fn sharing_agreement(name: &str) -> pb::DefineSharingAgreementRequest {
    pb::DefineSharingAgreementRequest {
        agreement: Some(pb::SharingAgreement {
            name: name.into(),
            from_domain: "d".into(),
            to_domain: "d2".into(),
            purpose: "research".into(),
            recipient: "Registry".into(),
            legal_basis: "Art. 9(2)(j)".into(),
            valid_until_unix_ms: T0_MS + 365 * 86_400_000,
            ..Default::default()
        }),
    }
}

/// `b-policy`, naming field `/e` of `domain`.
fn record_policy_for(domain: &str) -> pb::DefineRecordPolicyRequest {
    let mut r = record_policy("b-policy");
    if let Some(p) = r.policy.as_mut() {
        p.fields[0].domain = domain.into();
    }
    r
}

/// A policy naming field `/e` of domain `d`.
fn record_policy(name: &str) -> pb::DefineRecordPolicyRequest {
    pb::DefineRecordPolicyRequest {
        policy: Some(pb::RecordPolicy {
            name: name.into(),
            fields: vec![pb::RecordField {
                pointer: "/e".into(),
                domain: "d".into(),
                required: false,
            }],
            drop: vec![],
            updated_unix_ms: 0,
        }),
    }
}

#[tokio::test]
async fn every_role_against_every_rpc() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[
            ("d", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
            ("d2", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
        ],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    admin
        .admin()
        .define_record_policy(record_policy("rp"))
        .await
        .unwrap();
    admin
        .admin()
        .define_sharing_agreement(sharing_agreement("share"))
        .await
        .unwrap();
    let roles = [
        pb::Role::TenantAdmin,
        pb::Role::Tokenizer,
        pb::Role::Reidentifier,
        pb::Role::ConsentManager,
        pb::Role::SubjectOfficer,
        pb::Role::KeyOfficer,
        pb::Role::Auditor,
        pb::Role::Translator,
    ];
    let mut clients = vec![(pb::Role::Operator, operator.clone())];
    for role in roles {
        let purposes = if matches!(role, pb::Role::Reidentifier | pb::Role::Translator) {
            vec!["research".to_owned()]
        } else {
            vec![]
        };
        let token = admin
            .admin()
            .create_principal(pb::CreatePrincipalRequest {
                name: format!("r-{}", role.as_str_name().to_lowercase().replace('_', "-")),
                roles: vec![role.into()],
                purposes,
                enrol: false,
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        clients.push((role, server.client(&token).await));
    }
    let mut n = 0;
    for rpc in ALL {
        for (role, client) in &clients {
            n += 1;
            let result = call(rpc, client, n).await;
            if allowed_roles(rpc).contains(role) {
                assert!(
                    result.as_ref().err().map(|s| s.code()) != Some(Code::PermissionDenied),
                    "{role:?} must be allowed {rpc:?}: {result:?}"
                );
                if !matches!(
                    rpc,
                    Rpc::RevokePrincipal
                        | Rpc::WithdrawConsent
                        | Rpc::GetJob
                        | Rpc::WatchJob
                        | Rpc::DestroyKeyVersion
                        | Rpc::ApproveOperation
                        | Rpc::RefuseOperation
                        | Rpc::ClaimEnrolment
                        | Rpc::BindClientCertificate
                        | Rpc::ShredTenant
                        | Rpc::Seal
                        | Rpc::DeleteRecordPolicy
                        | Rpc::RevokeSharingAgreement
                ) {
                    assert!(result.is_ok(), "{role:?} {rpc:?}: {result:?}");
                }
            } else {
                assert_eq!(
                    result.err().map(|s| s.code()),
                    Some(Code::PermissionDenied),
                    "{role:?} must be denied {rpc:?}"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_touches_nothing_of_another() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let domains = [("shared", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)];
    let purposes = [("ops", pb::LegalBasis::Contract)];
    let a = setup_tenant(&operator, "tenant-a", &domains, &purposes).await;
    let b = setup_tenant(&operator, "tenant-b", &domains, &purposes).await;
    let b_admin = server.client(&b.admin).await;
    create_domain(
        &b_admin,
        "only-b",
        pb::IdentifierKind::Email,
        pb::Scheme::Keyed,
        true,
        0,
    )
    .await
    .unwrap();
    let b_tok = server.client(&b.tokenizer).await;
    let b_pseudonyms = pseudonymise_ok(&b_tok, "shared", &["anna@example.se"]).await;
    let b_only = pseudonymise_ok(&b_tok, "only-b", &["anna@example.se"]).await;

    let a_tok = server.client(&a.tokenizer).await;
    let a_reid = server.client(&a.reidentifier).await;
    let a_admin = server.client(&a.admin).await;
    let a_consent = server.client(&a.consent_manager).await;

    // Same identifier, same domain name, other tenant: a different, unlinkable pseudonym.
    assert_ne!(
        pseudonymise_ok(&a_tok, "shared", &["anna@example.se"]).await,
        b_pseudonyms
    );
    // B's domain does not exist for A.
    let err = a_tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "only-b".into(),
            identifiers: vec!["x@y.se".into()],
            batch_id: 0,
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    // B's record policy does not exist for A, not even to use it.
    b_admin
        .admin()
        .define_record_policy(record_policy_for("only-b"))
        .await
        .unwrap();
    let err = a_tok
        .pseudonyms()
        .pseudonymise_records(pb::PseudonymiseRecordsRequest {
            policy: "b-policy".into(),
            records: vec![br#"{"e":"x@y.se"}"#.to_vec()],
            batch_id: 0,
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    let err = a_reid
        .pseudonyms()
        .re_identify_records(pb::ReIdentifyRecordsRequest {
            policy: "b-policy".into(),
            purpose: "ops".into(),
            records: vec![format!(r#"{{"e":"{}"}}"#, b_only[0]).into_bytes()],
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    let err = a_admin
        .admin()
        .delete_record_policy(pb::DeleteRecordPolicyRequest {
            name: "b-policy".into(),
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    let a_policies = a_admin
        .admin()
        .list_record_policies(pb::ListRecordPoliciesRequest {})
        .await
        .unwrap()
        .into_inner()
        .policies;
    assert!(a_policies.is_empty());
    // A's record of processing holds A's set-up and counts only.
    let record = a_admin
        .admin()
        .get_record_of_processing(pb::GetRecordOfProcessingRequest {})
        .await
        .unwrap()
        .into_inner();
    let domains: Vec<(String, u64)> = record
        .domains
        .iter()
        .map(|d| (d.domain.clone().unwrap_or_default().name, d.mappings))
        .collect();
    assert_eq!(domains, [("shared".to_owned(), 1)]);
    assert!(record.record_policies.is_empty());
    assert_eq!(record.tenant.map(|t| t.name).as_deref(), Some("tenant-a"));
    // A policy naming B's domain cannot be defined in A.
    let err = a_admin
        .admin()
        .define_record_policy(record_policy_for("only-b"))
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::InvalidArgument));
    // B's pseudonyms are not found through A, in a domain of the same name or B's own.
    let r = reidentify(&a_reid, "shared", "ops", &b_pseudonyms)
        .await
        .unwrap_or_default();
    assert_eq!(r, vec![(pb::Verdict::NotFound, String::new())]);
    assert_eq!(
        reidentify(&a_reid, "only-b", "ops", &b_only)
            .await
            .err()
            .map(|s| s.code()),
        Some(Code::NotFound)
    );
    // B's principals cannot be listed or revoked by A.
    let b_ids: Vec<String> = b_admin
        .admin()
        .list_principals(pb::ListPrincipalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .principals
        .into_iter()
        .map(|p| p.id)
        .collect();
    let a_list = a_admin
        .admin()
        .list_principals(pb::ListPrincipalsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(a_list.principals.iter().all(|p| !b_ids.contains(&p.id)));
    assert_eq!(a_list.principals.len(), 6);
    // B's sharing agreement is not A's: not to translate under, list, revoke or name a
    // domain of.
    b_admin
        .admin()
        .define_sharing_agreement(pb::DefineSharingAgreementRequest {
            agreement: Some(pb::SharingAgreement {
                name: "b-share".into(),
                from_domain: "only-b".into(),
                to_domain: "shared".into(),
                purpose: "ops".into(),
                recipient: "B's partner".into(),
                legal_basis: "contract".into(),
                valid_until_unix_ms: T0_MS + 86_400_000,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let a_translator = a_admin
        .create_principal_token(
            pb::CreatePrincipalRequest {
                name: "a-translator".into(),
                roles: vec![pb::Role::Translator.into()],
                purposes: vec!["ops".into()],
                enrol: false,
            },
            None,
        )
        .await
        .unwrap();
    let a_translator = server.client(&a_translator).await;
    let err = a_translator
        .pseudonyms()
        .translate_pseudonyms(pb::TranslatePseudonymsRequest {
            agreement: "b-share".into(),
            pseudonyms: b_only.clone(),
            batch_id: 0,
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    let err = a_admin
        .admin()
        .revoke_sharing_agreement(pb::RevokeSharingAgreementRequest {
            name: "b-share".into(),
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    let a_agreements = a_admin
        .admin()
        .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agreements;
    assert!(a_agreements.is_empty());
    let err = a_admin
        .admin()
        .define_sharing_agreement(pb::DefineSharingAgreementRequest {
            agreement: Some(pb::SharingAgreement {
                name: "steal".into(),
                from_domain: "only-b".into(),
                to_domain: "shared".into(),
                purpose: "ops".into(),
                recipient: "A".into(),
                legal_basis: "none".into(),
                valid_until_unix_ms: T0_MS + 86_400_000,
                ..Default::default()
            }),
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::InvalidArgument));
    // A's auditor reads A's chain only: nothing in it names B's principals, and its key is A's.
    let a_audit = server.client(&a.auditor).await;
    let b_audit = server.client(&b.auditor).await;
    let (a_chain, _) = read_audit(&a_audit, pb::ReadAuditRequest::default()).await;
    assert!(
        a_chain.iter().all(|e| !b_ids.contains(&e.principal)),
        "B's act in A's chain"
    );
    let a_entries = a_chain.len();
    assert!(a_entries > 0);
    let (ka, kb) = (audit_key(&a_audit).await, audit_key(&b_audit).await);
    assert_ne!(ka.chain, kb.chain);
    assert_ne!(ka.public_key, kb.public_key);
    for id in &b_ids {
        let err = a_admin
            .admin()
            .revoke_principal(pb::RevokePrincipalRequest { id: id.clone() })
            .await
            .err();
        assert_eq!(err.map(|s| s.code()), Some(Code::NotFound));
    }
    // A consent recorded by A for B's pseudonym is refused: it is not A's.
    let req = pb::GrantConsentRequest {
        subject: Some(pb::SubjectRef {
            domain: "shared".into(),
            by: Some(pb::subject_ref::By::Pseudonym(b_pseudonyms[0].clone())),
        }),
        purpose: "ops".into(),
        text_version: 1,
        method: pb::ConsentMethod::Web.into(),
        valid_until_unix_ms: 0,
        ..Default::default()
    };
    let err = a_consent.consents().grant_consent(req).await.err();
    // `ops` is contract-based, so the purpose check answers first; either way nothing is recorded.
    assert!(matches!(
        err.map(|s| s.code()),
        Some(Code::NotFound | Code::FailedPrecondition)
    ));
    // The operator sees no tenant data.
    let err = operator
        .admin()
        .list_domains(pb::ListDomainsRequest {})
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::PermissionDenied));
    // B still re-identifies its own.
    let b_reid = server.client(&b.reidentifier).await;
    assert_eq!(
        reidentify(&b_reid, "shared", "ops", &b_pseudonyms)
            .await
            .unwrap_or_default()[0]
            .1,
        "anna@example.se"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_valid_credential_is_unauthenticated() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[("d", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let anonymous = connect(&server.addr, &server.ca_pem, None).await;
    let list = |c: Valv| async move {
        c.admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .err()
            .map(|s| s.code())
    };
    assert_eq!(list(anonymous).await, Some(Code::Unauthenticated));
    assert_eq!(
        list(server.client("garbage").await).await,
        Some(Code::Unauthenticated)
    );
    // A well-formed token with the right id but a wrong secret.
    let forged = format!(
        "{}{}",
        &t.admin[..t.admin.len() - 1],
        if t.admin.ends_with('a') { "b" } else { "a" }
    );
    assert_eq!(
        list(server.client(&forged).await).await,
        Some(Code::Unauthenticated)
    );
    // Revoked principals stop working at once.
    let admin = server.client(&t.admin).await;
    let tok = admin
        .admin()
        .create_principal(pb::CreatePrincipalRequest {
            name: "temp".into(),
            roles: vec![pb::Role::TenantAdmin.into()],
            purposes: vec![],
            enrol: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list(server.client(&tok.token).await).await, None);
    let id = tok.principal.map(|p| p.id).unwrap_or_default();
    admin
        .admin()
        .revoke_principal(pb::RevokePrincipalRequest { id })
        .await
        .unwrap();
    assert_eq!(
        list(server.client(&tok.token).await).await,
        Some(Code::Unauthenticated)
    );
    // Plain-text connections to a TLS server fail.
    let plain = Valv::connect(ClientConfig {
        addr: server.addr.replace("https", "http"),
        retry: valv_client::RetryPolicy::none(),
        ..ClientConfig::default()
    })
    .await;
    if let Ok(c) = plain {
        assert!(
            c.admin()
                .list_domains(pb::ListDomainsRequest {})
                .await
                .is_err()
        );
    }
    server.stop().await;
}

async fn pseudonymise_code(c: &Valv, domain: &str) -> Option<Code> {
    c.pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: domain.into(),
            identifiers: vec!["a@b.se".into()],
            batch_id: 0,
        })
        .await
        .err()
        .map(|s| s.code())
}

#[tokio::test]
async fn client_certificate_authenticates_a_principal_that_bound_it_itself() {
    use sha2::{Digest, Sha256};
    init();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_path = dir.path().join("clients-ca.pem");
    std::fs::write(&ca_path, &ca.pem).unwrap();
    let bound = ca.issue("batch-job");
    let other = ca.issue("batch-job");

    let server = start_with(valv::config::Limits::default(), Some(ca_path)).await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[("d", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let job_token = valv_e2e::principal_token(&admin, "batch-job", pb::Role::Tokenizer).await;
    let with_cert = |cert: String, key: String| {
        ClientConfig::new(server.addr.clone())
            .with_ca_pem(server.ca_pem.clone())
            .with_identity(cert.into_bytes(), key.into_bytes())
            .with_retry(valv_client::RetryPolicy::none())
    };
    let fingerprint = hex::encode(Sha256::digest(&bound.der));
    let cert_only = Valv::connect(with_cert(bound.cert_pem.clone(), bound.key_pem.clone()))
        .await
        .unwrap();
    // Not bound yet: the certificate alone authenticates nobody.
    assert_eq!(
        pseudonymise_code(&cert_only, "d").await,
        Some(Code::Unauthenticated)
    );
    // Binding needs the certificate on the connection (proof of possession of its key)…
    let no_cert = admin.with_token(&job_token).unwrap();
    let refused = no_cert
        .admin()
        .bind_client_certificate(pb::BindClientCertificateRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::FailedPrecondition));
    // … and the principal's token: the holder of both binds it to itself.
    let holder = cert_only.with_token(&job_token).unwrap();
    let p = holder
        .admin()
        .bind_client_certificate(pb::BindClientCertificateRequest {})
        .await
        .unwrap()
        .into_inner()
        .principal
        .unwrap();
    assert_eq!(p.client_cert_sha256, fingerprint);
    // Another principal, even of the same tenant and with the certificate's key, cannot take
    // the binding over.
    let other_token = valv_e2e::principal_token(&admin, "other-job", pb::Role::Tokenizer).await;
    let taken = cert_only
        .with_token(&other_token)
        .unwrap()
        .admin()
        .bind_client_certificate(pb::BindClientCertificateRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(taken, Some(Code::AlreadyExists));
    let bound = cert_only;
    assert_eq!(
        pseudonymise_ok(&bound, "d", &["anna@example.se"])
            .await
            .len(),
        1
    );
    // The certificate carries only the roles of its principal.
    assert_eq!(
        bound
            .admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .err()
            .map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let unbound = Valv::connect(with_cert(other.cert_pem.clone(), other.key_pem.clone()))
        .await
        .unwrap();
    let err = unbound
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "d".into(),
            identifiers: vec!["a@b.se".into()],
            batch_id: 0,
        })
        .await
        .err();
    assert_eq!(err.map(|s| s.code()), Some(Code::Unauthenticated));
    server.stop().await;
}

/// A principal revoked, or a tenant shredded, while a stream is open gets nothing more: each
/// message of a `PseudonymiseStream` and each event of a followed `WatchSubjectEvents` is checked
/// like a new call.
#[tokio::test(flavor = "multi_thread")]
async fn open_streams_stop_at_revocation_and_shredding() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "streams",
        &[("d", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let batch = |id: &str| pb::PseudonymiseRequest {
        domain: "d".into(),
        identifiers: vec![id.into()],
        batch_id: 0,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = server
        .client(&t.tokenizer)
        .await
        .pseudonyms()
        .pseudonymise_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(batch("first@example.se")).await.unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().results.len(), 1);
    let tokenizer_id = t.tokenizer.split('_').nth(1).unwrap().to_owned();
    admin
        .admin()
        .revoke_principal(pb::RevokePrincipalRequest { id: tokenizer_id })
        .await
        .unwrap();
    tx.send(batch("second@example.se")).await.unwrap();
    let refused = replies.message().await.err().unwrap();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // A follower of the event stream: revoked, it gets the next event as a refusal, then nothing.
    let follower = principal_token(&admin, "follower", pb::Role::ConsentManager).await;
    let mut events = server
        .client(&follower)
        .await
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest {
            after_seq: 0,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    let desk = server.client(&t.consent_manager).await;
    desk.consents()
        .grant_consent(grant("d", "a@example.se", "research", 1, 0))
        .await
        .unwrap();
    assert!(events.message().await.unwrap().is_some());
    admin
        .admin()
        .revoke_principal(pb::RevokePrincipalRequest {
            id: follower.split('_').nth(1).unwrap().into(),
        })
        .await
        .unwrap();
    desk.consents()
        .grant_consent(grant("d", "b@example.se", "research", 1, 0))
        .await
        .unwrap();
    let refused = events.message().await.err().unwrap();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // A stream of a tenant shredded meanwhile stops as well.
    let tok2 = principal_token(&admin, "tok2", pb::Role::Tokenizer).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = server
        .client(&tok2)
        .await
        .pseudonyms()
        .pseudonymise_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(batch("third@example.se")).await.unwrap();
    assert!(replies.message().await.unwrap().is_some());
    operator
        .keys()
        .shred_tenant(pb::ShredTenantRequest {
            tenant: "streams".into(),
        })
        .await
        .unwrap();
    tx.send(batch("fourth@example.se")).await.unwrap();
    let refused = replies.message().await.err().unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    server.stop().await;
}
