//! `valv.v1.ConsentService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, consent_service_server::ConsentService};

use super::{caller, convert, status::to_status};
use crate::{
    app::App,
    error::VaultError,
    ops::{
        consent::{self, Grant},
        consent_list, receipts,
        subject::SubjectBy,
    },
};

/// The consent service.
pub struct ConsentApi(pub Arc<App>);

pub(crate) fn subject(s: Option<pb::SubjectRef>) -> Result<(String, SubjectBy), Status> {
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

/// A consent event as the consent desk sees it: without the subject's pseudonym, unless the
/// request named the subject by that very pseudonym. The desk talks to people by identifier;
/// handing it the pseudonym would let it link identifiers to pseudonymised data.
fn desk_event(
    purpose: &str,
    e: &crate::model::ConsentEvent,
    named: Option<&str>,
) -> pb::ConsentEvent {
    let mut out = convert::consent_event(purpose, e);
    if named != Some(out.subject_pseudonym.as_str()) {
        out.subject_domain.clear();
        out.subject_pseudonym.clear();
    }
    out
}

fn named_pseudonym(by: &SubjectBy) -> Option<String> {
    match by {
        SubjectBy::Pseudonym(p) => Some(p.clone()),
        SubjectBy::Identifier(_) => None,
    }
}

#[tonic::async_trait]
impl ConsentService for ConsentApi {
    async fn list_consents(
        &self,
        request: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        use crate::engine::consent::ConsentStatus as S;
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let status = match r.status() {
            pb::ConsentStatus::Unspecified => None,
            pb::ConsentStatus::None => Some(S::None),
            pb::ConsentStatus::Granted => Some(S::Granted),
            pb::ConsentStatus::Withdrawn => Some(S::Withdrawn),
            pb::ConsentStatus::Expired => Some(S::Expired),
        };
        let filter = consent_list::Filter {
            purpose: r.purpose,
            status,
            granted_after_ms: r.granted_after_unix_ms,
            granted_before_ms: r.granted_before_unix_ms,
            expiring_after_ms: r.expiring_after_unix_ms,
            expiring_before_ms: r.expiring_before_unix_ms,
            text_version_below: r.text_version_below,
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let (list, next) = consent_list::list(&self.0, &caller, filter)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListConsentsResponse {
            consents: list
                .iter()
                .map(|c| pb::ConsentSummary {
                    subject_ref: c.subject_ref.clone(),
                    purpose: c.purpose.clone(),
                    status: convert::consent_status(c.status).into(),
                    latest: Some(desk_event(&c.purpose, &c.latest, None)),
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn consent_stats(
        &self,
        request: Request<pb::ConsentStatsRequest>,
    ) -> Result<Response<pb::ConsentStatsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let stats = consent_list::stats(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ConsentStatsResponse {
            purposes: stats
                .into_iter()
                .map(
                    |(purpose, [granted, withdrawn, expired])| pb::PurposeStats {
                        purpose,
                        granted,
                        withdrawn,
                        expired,
                    },
                )
                .collect(),
        }))
    }

    async fn verify_receipt(
        &self,
        request: Request<pb::VerifyReceiptRequest>,
    ) -> Result<Response<pb::VerifyReceiptResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let v = receipts::verify(&self.0, &caller, &r.receipt)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::VerifyReceiptResponse {
            valid: v.valid,
            problem: v.problem,
            receipt_id: v.receipt_id,
            current_status: v
                .status
                .map_or(pb::ConsentStatus::Unspecified, convert::consent_status)
                .into(),
        }))
    }

    async fn get_receipt_key(
        &self,
        request: Request<pb::GetReceiptKeyRequest>,
    ) -> Result<Response<pb::GetReceiptKeyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let (tenant, key) = receipts::public_key(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetReceiptKeyResponse {
            tenant,
            key_id: valv_proto::receipt::key_id(&key),
            public_key: key.to_vec(),
        }))
    }

    async fn grant_consent(
        &self,
        request: Request<pb::GrantConsentRequest>,
    ) -> Result<Response<pb::GrantConsentResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let guardian = match r.guardian {
            None => None,
            Some(g) => {
                if !g.domain.is_empty() && g.domain != domain {
                    return Err(to_status(VaultError::invalid(
                        "guardian.domain",
                        "must be empty or the subject's domain",
                    )));
                }
                Some(
                    subject(Some(pb::SubjectRef {
                        domain: domain.clone(),
                        by: g.by,
                    }))
                    .map_err(|_| {
                        to_status(VaultError::invalid(
                            "guardian",
                            "identifier or pseudonym must be set",
                        ))
                    })?
                    .1,
                )
            }
        };
        let grant = Grant {
            text_version: r.text_version,
            method: convert::method(r.method).map_err(to_status)?,
            valid_until_ms: r.valid_until_unix_ms,
            channel: r.channel,
            evidence: valv_kms::SecretBytes::new(r.evidence),
            evidence_media_type: r.evidence_media_type,
            guardian,
        };
        let named = named_pseudonym(&by);
        let granted = consent::grant(&self.0, &caller, &domain, by, &r.purpose, grant)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GrantConsentResponse {
            event: Some(desk_event(&r.purpose, &granted.event, named.as_deref())),
            receipt: granted.receipt,
        }))
    }

    async fn withdraw_consent(
        &self,
        request: Request<pb::WithdrawConsentRequest>,
    ) -> Result<Response<pb::WithdrawConsentResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let named = named_pseudonym(&by);
        let e = consent::withdraw(&self.0, &caller, &domain, by, &r.purpose)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::WithdrawConsentResponse {
            event: Some(desk_event(&r.purpose, &e, named.as_deref())),
        }))
    }

    async fn get_consent_history(
        &self,
        request: Request<pb::GetConsentHistoryRequest>,
    ) -> Result<Response<pb::GetConsentHistoryResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let named = named_pseudonym(&by);
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
                    .map(|e| desk_event(&h.purpose, e, named.as_deref()))
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::GetConsentHistoryResponse { purposes }))
    }
}
