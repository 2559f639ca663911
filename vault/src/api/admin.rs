//! `valv.v1.AdminService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, admin_service_server::AdminService};

use super::{caller, convert, status::to_status};
use crate::{
    app::App,
    ops::{
        admin, consent_texts, enrolment, policies,
        principals::{self, Created},
        processing, sharing,
    },
    store::records::RecordFieldRecord,
};

/// The admin service.
pub struct AdminApi(pub Arc<App>);

fn token_text(t: &valv_kms::SecretBytes) -> String {
    // Declassified on purpose: the token goes to its owner once, in this response.
    String::from_utf8_lossy(t.expose_secret()).into_owned()
}

fn settings(app: &crate::app::App, t: &crate::store::records::TenantRecord) -> pb::TenantSettings {
    let s = app.settings_of(t);
    pb::TenantSettings {
        age_of_consent: s.age_of_consent,
        new_identifiers_per_hour: s.new_identifiers_per_hour,
        new_identifiers_warning_per_hour: s.new_identifiers_warning_per_hour,
        requests_per_second: s.requests_per_second,
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::CreateTenantResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (tenant, admins) =
            admin::create_tenant(&self.0, &caller, &r.name, &r.admin_name, r.admins)
                .await
                .map_err(to_status)?;
        Ok(Response::new(pb::CreateTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
            admins: admins.iter().map(convert::enrolment).collect(),
        }))
    }

    async fn create_domain(
        &self,
        request: Request<pb::CreateDomainRequest>,
    ) -> Result<Response<pb::CreateDomainResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let spec = admin::DomainSpec {
            name: r.name,
            kind: convert::kind(r.kind).map_err(to_status)?,
            scheme: convert::scheme(r.scheme).map_err(to_status)?,
            reversible: r.reversible,
            retention_seconds: r.retention_seconds,
            retention_since_last_use: r.retention_since_last_use,
            consent_purpose: r.consent_purpose,
        };
        let d = admin::create_domain(&self.0, &caller, spec)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateDomainResponse {
            domain: Some(convert::domain(&d)),
        }))
    }

    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Result<Response<pb::ListDomainsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = admin::list_domains(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListDomainsResponse {
            domains: list.iter().map(convert::domain).collect(),
        }))
    }

    async fn define_purpose(
        &self,
        request: Request<pb::DefinePurposeRequest>,
    ) -> Result<Response<pb::DefinePurposeResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let spec = admin::PurposeSpec {
            name: r.name,
            legal_basis: convert::legal_basis(r.legal_basis).map_err(to_status)?,
            min_text_version: r.min_text_version,
            default_consent_validity_seconds: r.default_consent_validity_seconds,
            description: r.description,
            explicit_consent: r.explicit_consent,
            domains: r.domains,
            erase_on_withdrawal: r.erase_on_withdrawal,
            evidence_retention_seconds: r.evidence_retention_seconds,
        };
        let d = admin::define_purpose(&self.0, &caller, spec)
            .await
            .map_err(to_status)?;
        let (pending_operation_id, approve_before_unix_ms) = d.pending.unwrap_or_default();
        Ok(Response::new(pb::DefinePurposeResponse {
            purpose: Some(convert::purpose(&d.purpose)),
            created: d.created,
            pending_operation_id,
            approve_before_unix_ms,
            changes: convert::changes(&d.changes),
        }))
    }

    async fn define_record_policy(
        &self,
        request: Request<pb::DefineRecordPolicyRequest>,
    ) -> Result<Response<pb::DefineRecordPolicyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let p = request.into_inner().policy.unwrap_or_default();
        let fields = p
            .fields
            .into_iter()
            .map(|f| RecordFieldRecord {
                pointer: f.pointer,
                domain: f.domain,
                required: f.required,
            })
            .collect();
        let d = policies::define_policy(&self.0, &caller, &p.name, fields, p.drop)
            .await
            .map_err(to_status)?;
        let (pending_operation_id, approve_before_unix_ms) = d.pending.unwrap_or_default();
        Ok(Response::new(pb::DefineRecordPolicyResponse {
            policy: d.policy.as_ref().map(convert::record_policy),
            created: d.created,
            pending_operation_id,
            approve_before_unix_ms,
            changes: convert::changes(&d.changes),
        }))
    }

    async fn define_sharing_agreement(
        &self,
        request: Request<pb::DefineSharingAgreementRequest>,
    ) -> Result<Response<pb::DefineSharingAgreementResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let a = request.into_inner().agreement.unwrap_or_default();
        let defined = sharing::define(&self.0, &caller, convert::agreement_in(a))
            .await
            .map_err(to_status)?;
        Ok(Response::new(match defined {
            sharing::Defined::Stored(a) => pb::DefineSharingAgreementResponse {
                agreement: Some(convert::agreement(&a)),
                ..Default::default()
            },
            sharing::Defined::Pending(id, until) => pb::DefineSharingAgreementResponse {
                agreement: None,
                pending_operation_id: id,
                approve_before_unix_ms: until,
            },
        }))
    }

    async fn list_sharing_agreements(
        &self,
        request: Request<pb::ListSharingAgreementsRequest>,
    ) -> Result<Response<pb::ListSharingAgreementsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = sharing::list(&self.0, &caller).await.map_err(to_status)?;
        Ok(Response::new(pb::ListSharingAgreementsResponse {
            agreements: list.iter().map(convert::agreement).collect(),
        }))
    }

    async fn revoke_sharing_agreement(
        &self,
        request: Request<pb::RevokeSharingAgreementRequest>,
    ) -> Result<Response<pb::RevokeSharingAgreementResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let name = request.into_inner().name;
        sharing::revoke(&self.0, &caller, &name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RevokeSharingAgreementResponse {}))
    }

    async fn list_record_policies(
        &self,
        request: Request<pb::ListRecordPoliciesRequest>,
    ) -> Result<Response<pb::ListRecordPoliciesResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = policies::list_policies(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListRecordPoliciesResponse {
            policies: list.iter().map(convert::record_policy).collect(),
        }))
    }

    async fn delete_record_policy(
        &self,
        request: Request<pb::DeleteRecordPolicyRequest>,
    ) -> Result<Response<pb::DeleteRecordPolicyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let pending = policies::delete_policy(&self.0, &caller, &request.into_inner().name)
            .await
            .map_err(to_status)?;
        let (pending_operation_id, approve_before_unix_ms) = pending.unwrap_or_default();
        Ok(Response::new(pb::DeleteRecordPolicyResponse {
            deleted: pending.is_none(),
            pending_operation_id,
            approve_before_unix_ms,
        }))
    }

    async fn add_consent_text(
        &self,
        request: Request<pb::AddConsentTextRequest>,
    ) -> Result<Response<pb::AddConsentTextResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let text = consent_texts::add(&self.0, &caller, &r.purpose, r.text)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AddConsentTextResponse {
            text: Some(convert::consent_text(&text)),
        }))
    }

    async fn list_consent_texts(
        &self,
        request: Request<pb::ListConsentTextsRequest>,
    ) -> Result<Response<pb::ListConsentTextsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let texts = consent_texts::list(&self.0, &caller, &r.purpose)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListConsentTextsResponse {
            texts: texts.iter().map(convert::consent_text).collect(),
        }))
    }

    async fn get_tenant_settings(
        &self,
        request: Request<pb::GetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let caller = caller(&self.0, &request).await?;
        let t = admin::tenant_settings(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(settings(&self.0, &t)))
    }

    async fn set_tenant_settings(
        &self,
        request: Request<pb::SetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let change = admin::SettingsChange {
            age_of_consent: (r.age_of_consent != 0).then_some(r.age_of_consent),
            new_identifiers_per_hour: r.new_identifiers_per_hour,
            new_identifiers_warning_per_hour: r.new_identifiers_warning_per_hour,
            requests_per_second: r.requests_per_second,
        };
        let t = admin::set_settings(&self.0, &caller, change)
            .await
            .map_err(to_status)?;
        Ok(Response::new(settings(&self.0, &t)))
    }

    async fn list_purposes(
        &self,
        request: Request<pb::ListPurposesRequest>,
    ) -> Result<Response<pb::ListPurposesResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = admin::list_purposes(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPurposesResponse {
            purposes: list.iter().map(convert::purpose).collect(),
        }))
    }

    async fn create_principal(
        &self,
        request: Request<pb::CreatePrincipalRequest>,
    ) -> Result<Response<pb::CreatePrincipalResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let roles = convert::roles(&r.roles).map_err(to_status)?;
        let created =
            principals::create_principal(&self.0, &caller, &r.name, roles, r.purposes, r.enrol)
                .await
                .map_err(to_status)?;
        Ok(Response::new(match created {
            Created::Token(p, token) => pb::CreatePrincipalResponse {
                principal: Some(convert::principal(&p)),
                token: token_text(&token),
                ..Default::default()
            },
            Created::Enrolment(e) => pb::CreatePrincipalResponse {
                principal: Some(convert::principal(&e.principal)),
                enrolment: Some(convert::enrolment(&e)),
                ..Default::default()
            },
            Created::Pending(e, id, until) => pb::CreatePrincipalResponse {
                principal: Some(convert::principal(&e.principal)),
                enrolment: Some(convert::enrolment(&e)),
                pending_operation_id: id,
                approve_before_unix_ms: until,
                ..Default::default()
            },
        }))
    }

    async fn claim_enrolment(
        &self,
        request: Request<pb::ClaimEnrolmentRequest>,
    ) -> Result<Response<pb::ClaimEnrolmentResponse>, Status> {
        // No credential: the code is one. A sealed vault answers nothing else.
        if self.0.is_sealed() {
            return Err(to_status(crate::error::VaultError::FailedPrecondition(
                "the vault is sealed; it answers only the seal service until unsealed".into(),
            )));
        }
        let request_id = crate::observe::request_id::of(request.metadata().as_ref());
        let (p, token) = enrolment::claim(&self.0, &request.into_inner().code, &request_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ClaimEnrolmentResponse {
            principal: Some(convert::principal(&p)),
            token: token_text(&token),
        }))
    }

    async fn bind_client_certificate(
        &self,
        request: Request<pb::BindClientCertificateRequest>,
    ) -> Result<Response<pb::BindClientCertificateResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        if request.metadata().get("authorization").is_none() {
            return Err(to_status(crate::error::VaultError::FailedPrecondition(
                "authorization: bind with the principal's token (the certificate is not bound yet)"
                    .into(),
            )));
        }
        let certs = request.peer_certs();
        let leaf = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        let p = principals::bind_certificate(&self.0, &caller, leaf)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::BindClientCertificateResponse {
            principal: Some(convert::principal(&p)),
        }))
    }

    async fn revoke_principal(
        &self,
        request: Request<pb::RevokePrincipalRequest>,
    ) -> Result<Response<pb::RevokePrincipalResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let p = principals::revoke_principal(&self.0, &caller, &r.id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RevokePrincipalResponse {
            principal: Some(convert::principal(&p)),
        }))
    }

    async fn list_principals(
        &self,
        request: Request<pb::ListPrincipalsRequest>,
    ) -> Result<Response<pb::ListPrincipalsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = principals::list_principals(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPrincipalsResponse {
            principals: list.iter().map(convert::principal).collect(),
        }))
    }

    async fn get_record_of_processing(
        &self,
        request: Request<pb::GetRecordOfProcessingRequest>,
    ) -> Result<Response<pb::RecordOfProcessing>, Status> {
        let caller = caller(&self.0, &request).await?;
        let record = processing::record(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(super::processing::record(&self.0, &record)))
    }
}
