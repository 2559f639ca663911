//! `valv.v1.ConsentService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, consent_service_server::ConsentService};

use super::{caller, convert, status::to_status};
use crate::{
    app::App,
    error::VaultError,
    ops::consent::{self, Grant, SubjectBy},
};

/// The consent service.
pub struct ConsentApi(pub Arc<App>);

fn subject(s: Option<pb::SubjectRef>) -> Result<(String, SubjectBy), Status> {
    let s = s.ok_or_else(|| to_status(VaultError::invalid("subject", "must be set")))?;
    let by = match s.by {
        Some(pb::subject_ref::By::Identifier(i)) => SubjectBy::Identifier(i),
        Some(pb::subject_ref::By::Pseudonym(p)) => SubjectBy::Pseudonym(p),
        None => {
            return Err(to_status(VaultError::invalid(
                "subject",
                "identifier or pseudonym must be set",
            )));
        }
    };
    Ok((s.domain, by))
}

#[tonic::async_trait]
impl ConsentService for ConsentApi {
    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let grant = Grant {
            text_version: r.text_version,
            method: convert::method(r.method).map_err(to_status)?,
            valid_until_ms: r.valid_until_unix_ms,
        };
        let e = consent::grant(&self.0, &caller, &domain, by, &r.purpose, grant)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GrantConsentResponse {
            event: Some(convert::consent_event(&r.purpose, &e)),
        }))
    }

    async fn withdraw_consent(
        &self,
        request: Request<pb::WithdrawConsentRequest>,
    ) -> Result<Response<pb::WithdrawConsentResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let e = consent::withdraw(&self.0, &caller, &domain, by, &r.purpose)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::WithdrawConsentResponse {
            event: Some(convert::consent_event(&r.purpose, &e)),
        }))
    }

    async fn get_consent_history(
        &self,
        request: Request<pb::GetConsentHistoryRequest>,
    ) -> Result<Response<pb::GetConsentHistoryResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let list = consent::history(&self.0, &caller, &domain, by, &r.purpose)
            .await
            .map_err(to_status)?;
        let purposes = list
            .iter()
            .map(|h| pb::PurposeConsent {
                purpose: h.purpose.clone(),
                status: convert::consent_status(h.status).into(),
                events: h
                    .events
                    .iter()
                    .map(|e| convert::consent_event(&h.purpose, e))
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::GetConsentHistoryResponse { purposes }))
    }
}
