//! `valv.v1.KeyService`.

use std::{pin::Pin, sync::Arc, time::Duration};

use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use valv_kms::KeyState;
use valv_proto::v1::{self as pb, key_service_server::KeyService};

use super::{caller, convert, status::to_status};
use crate::model::records::JobState;
use crate::{
    app::App,
    jobs,
    ops::{approval, epochs, keys},
    store::records::JobRecord,
};

/// The key service.
pub struct KeyApi(pub Arc<App>);

/// A key version as the wire shows it.
pub(super) fn version_info(app: &App, v: &keys::VersionInfo) -> pb::KeyVersionInfo {
    pb::KeyVersionInfo {
        version: v.version,
        state: state(v.state).into(),
        created_unix_ms: v.created_ms,
        records: v.records,
        encryptions: v.encryptions,
        budget: app.limits.key_use_budget,
    }
}

fn state(s: KeyState) -> pb::KeyVersionState {
    match s {
        KeyState::Active => pb::KeyVersionState::Active,
        KeyState::DecryptOnly => pb::KeyVersionState::DecryptOnly,
        KeyState::Retired => pb::KeyVersionState::Retired,
        KeyState::Destroyed => pb::KeyVersionState::Destroyed,
    }
}

/// A job record as the wire shows it.
pub fn job(app: &App, j: &JobRecord, now_ms: i64) -> pb::Job {
    let (rate, eta) = jobs::progress(app, j, now_ms);
    let state = match j.state {
        JobState::Running => pb::JobState::Running,
        JobState::Done => pb::JobState::Done,
        JobState::Failed => pb::JobState::Failed,
    };
    pb::Job {
        id: j.id,
        kind: j.kind.as_str().to_owned(),
        state: state.into(),
        done: j.done,
        total: j.total,
        rate_per_second: rate,
        estimated_end_unix_ms: eta,
        started_unix_ms: j.started_ms,
        finished_unix_ms: j.finished_ms,
        target_version: j.target_version,
        error: j.error.clone(),
    }
}

/// New unseal shares for the answer (declassified on purpose: they go to the caller once).
fn shares_text(shares: &[zeroize::Zeroizing<String>]) -> Vec<String> {
    shares.iter().map(|s| s.as_str().to_owned()).collect()
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn list_key_versions(
        &self,
        request: Request<pb::ListKeyVersionsRequest>,
    ) -> Result<Response<pb::ListKeyVersionsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let versions = keys::list_versions(&self.0, &caller)
            .await
            .map_err(to_status)?
            .iter()
            .map(|v| version_info(&self.0, v))
            .collect();
        Ok(Response::new(pb::ListKeyVersionsResponse { versions }))
    }

    async fn rotate_tenant_key(
        &self,
        request: Request<pb::RotateTenantKeyRequest>,
    ) -> Result<Response<pb::RotateTenantKeyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let (new_version, job_id) = keys::rotate_for(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RotateTenantKeyResponse {
            new_version,
            job_id,
        }))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let caller = caller(&self.0, &request).await?;
        let id = request.into_inner().id;
        let j = keys::job(&self.0, &caller, id).await.map_err(to_status)?;
        Ok(Response::new(job(&self.0, &j, self.0.now_ms())))
    }

    type WatchJobStream = Pin<Box<dyn Stream<Item = Result<pb::Job, Status>> + Send + 'static>>;

    type TranslateEpochStream =
        Pin<Box<dyn Stream<Item = Result<pb::PseudonymPair, Status>> + Send + 'static>>;

    async fn watch_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let id = request.into_inner().id;
        // Checked once up front: the caller may see this job.
        keys::job(&self.0, &caller, id).await.map_err(to_status)?;
        let app = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let update = match keys::job(&app, &caller, id).await {
                    Ok(j) => Ok(j),
                    Err(e) => Err(to_status(e)),
                };
                let ended = update
                    .as_ref()
                    .map_or(true, |j| j.state != JobState::Running);
                let message = update.map(|j| job(&app, &j, app.now_ms()));
                if tx.send(message).await.is_err() || ended {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let now = self.0.now_ms();
        let jobs = keys::list_jobs(&self.0, &caller)
            .await
            .map_err(to_status)?
            .iter()
            .map(|j| job(&self.0, j, now))
            .collect();
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    async fn destroy_key_version(
        &self,
        request: Request<pb::DestroyKeyVersionRequest>,
    ) -> Result<Response<pb::DestroyKeyVersionResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (outcome, remaining) = keys::destroy(&self.0, &caller, r.version, r.force)
            .await
            .map_err(to_status)?;
        let records = remaining
            .into_iter()
            .map(|(domain, records)| pb::DomainRecords { domain, records })
            .collect();
        Ok(Response::new(match outcome {
            approval::Outcome::Done(_) => pb::DestroyKeyVersionResponse {
                destroyed: true,
                pending_operation_id: 0,
                approve_before_unix_ms: 0,
                records,
            },
            approval::Outcome::Pending(id, before) => pb::DestroyKeyVersionResponse {
                destroyed: false,
                pending_operation_id: id,
                approve_before_unix_ms: before,
                records,
            },
        }))
    }

    async fn approve_operation(
        &self,
        request: Request<pb::ApproveOperationRequest>,
    ) -> Result<Response<pb::ApproveOperationResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let id = request.into_inner().id;
        let done = crate::ops::approve::approve(&self.0, &caller, id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ApproveOperationResponse {
            kind: done.kind,
            summary: done.summary,
            new_shares: shares_text(&done.new_shares),
        }))
    }

    async fn refuse_operation(
        &self,
        request: Request<pb::RefuseOperationRequest>,
    ) -> Result<Response<pb::RefuseOperationResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let kind = approval::refuse(&self.0, &caller, request.into_inner().id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RefuseOperationResponse { kind }))
    }

    async fn list_pending_operations(
        &self,
        request: Request<pb::ListPendingOperationsRequest>,
    ) -> Result<Response<pb::ListPendingOperationsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let operations = approval::list(&self.0, &caller)
            .await
            .map_err(to_status)?
            .iter()
            .map(|o| pb::PendingOperation {
                id: o.id,
                kind: o.kind.clone(),
                requested_by: o.requested_by.clone(),
                requested_unix_ms: o.requested_ms,
                expires_unix_ms: o.expires_ms,
                summary: approval::summary(o),
                changes: convert::changes(&o.changes),
            })
            .collect();
        Ok(Response::new(pb::ListPendingOperationsResponse {
            operations,
        }))
    }

    async fn rotate_root_key(
        &self,
        request: Request<pb::RotateRootKeyRequest>,
    ) -> Result<Response<pb::RotateRootKeyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let new_shares = crate::ops::root::NewShares::from_request(r.new_shares, r.new_threshold)
            .map_err(to_status)?;
        let (outcome, shares) = crate::ops::root::rotate(&self.0, &caller, new_shares)
            .await
            .map_err(to_status)?;
        Ok(Response::new(match outcome {
            approval::Outcome::Done(_) => pb::RotateRootKeyResponse {
                rotated: true,
                root_key_id: self.0.keys.root().root_key_id(),
                pending_operation_id: 0,
                approve_before_unix_ms: 0,
                new_shares: shares_text(&shares),
            },
            approval::Outcome::Pending(id, before) => pb::RotateRootKeyResponse {
                rotated: false,
                root_key_id: String::new(),
                pending_operation_id: id,
                approve_before_unix_ms: before,
                new_shares: Vec::new(),
            },
        }))
    }

    async fn shred_tenant(
        &self,
        request: Request<pb::ShredTenantRequest>,
    ) -> Result<Response<pb::ShredTenantResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let name = request.into_inner().tenant;
        let outcome = crate::ops::shred::shred(&self.0, &caller, &name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(match outcome {
            approval::Outcome::Done(_) => pb::ShredTenantResponse {
                shredded: true,
                pending_operation_id: 0,
                approve_before_unix_ms: 0,
            },
            approval::Outcome::Pending(id, before) => pb::ShredTenantResponse {
                shredded: false,
                pending_operation_id: id,
                approve_before_unix_ms: before,
            },
        }))
    }

    async fn rotate_domain_epoch(
        &self,
        request: Request<pb::RotateDomainEpochRequest>,
    ) -> Result<Response<pb::RotateDomainEpochResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (epoch, until) = epochs::rotate(&self.0, &caller, &r.domain, r.grace_seconds)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RotateDomainEpochResponse {
            epoch,
            old_epochs_until_unix_ms: until,
        }))
    }

    async fn translate_epoch(
        &self,
        request: Request<pb::TranslateEpochRequest>,
    ) -> Result<Response<Self::TranslateEpochStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let domain = epochs::start_translation(&self.0, &caller, &r.domain)
            .await
            .map_err(to_status)?;
        let app = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            let mut after = Vec::new();
            loop {
                // Each page writes (the new epoch's records) and syncs before it is sent.
                let operation = app.store.operation();
                let page = epochs::translate_page(&app, &domain, after).await;
                drop(operation);
                match page {
                    Ok((pairs, next)) => {
                        for (old_pseudonym, new_pseudonym) in pairs {
                            let pair = pb::PseudonymPair {
                                old_pseudonym,
                                new_pseudonym,
                            };
                            if tx.send(Ok(pair)).await.is_err() {
                                return;
                            }
                        }
                        match next {
                            Some(n) => after = n,
                            None => return,
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn finalize_epoch(
        &self,
        request: Request<pb::FinalizeEpochRequest>,
    ) -> Result<Response<pb::FinalizeEpochResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let epoch = epochs::finalize(&self.0, &caller, &r.domain)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::FinalizeEpochResponse { epoch }))
    }
}
