//! `valv.v1.AdminService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, admin_service_server::AdminService};

use super::{caller, convert, status::to_status};
use crate::{
    app::App,
    ops::{admin, consent_texts, records},
    store::records::RecordFieldRecord,
};

/// The admin service.
pub struct AdminApi(pub Arc<App>);

fn token_text(t: &valv_kms::SecretBytes) -> String {
    // Declassified on purpose: the token goes to its owner once, in this response.
    String::from_utf8_lossy(t.expose_secret()).into_owned()
}

fn settings(t: &crate::store::records::TenantRecord) -> pb::TenantSettings {
    pb::TenantSettings {
        age_of_consent: match t.age_of_consent {
            0 => crate::store::records::DEFAULT_AGE_OF_CONSENT,
            age => age,
        },
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
        let (tenant, admin, token) = admin::create_tenant(&self.0, &caller, &r.name, &r.admin_name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
            admin: Some(convert::principal(&admin)),
            admin_token: token_text(&token),
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
        let (p, created) = admin::define_purpose(&self.0, &caller, spec)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DefinePurposeResponse {
            purpose: Some(convert::purpose(&p)),
            created,
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
        let (policy, created) = records::define_policy(&self.0, &caller, &p.name, fields, p.drop)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DefineRecordPolicyResponse {
            policy: Some(convert::record_policy(&policy)),
            created,
        }))
    }

    async fn list_record_policies(
        &self,
        request: Request<pb::ListRecordPoliciesRequest>,
    ) -> Result<Response<pb::ListRecordPoliciesResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let list = records::list_policies(&self.0, &caller)
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
        records::delete_policy(&self.0, &caller, &request.into_inner().name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteRecordPolicyResponse {}))
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
        Ok(Response::new(settings(&t)))
    }

    async fn set_tenant_settings(
        &self,
        request: Request<pb::SetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let t = admin::set_age_of_consent(&self.0, &caller, r.age_of_consent)
            .await
            .map_err(to_status)?;
        Ok(Response::new(settings(&t)))
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
        let (p, token) = admin::create_principal(
            &self.0,
            &caller,
            &r.name,
            roles,
            r.purposes,
            &r.client_cert_sha256,
        )
        .await
        .map_err(to_status)?;
        Ok(Response::new(pb::CreatePrincipalResponse {
            principal: Some(convert::principal(&p)),
            token: token_text(&token),
        }))
    }

    async fn revoke_principal(
        &self,
        request: Request<pb::RevokePrincipalRequest>,
    ) -> Result<Response<pb::RevokePrincipalResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let p = admin::revoke_principal(&self.0, &caller, &r.id)
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
        let list = admin::list_principals(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPrincipalsResponse {
            principals: list.iter().map(convert::principal).collect(),
        }))
    }
}
