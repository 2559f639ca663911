//! `valv.v1.AuditService`.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, audit_service_server::AuditService};

use super::{caller, status::to_status};
use crate::{
    app::App,
    ops::audit::{self, Filter},
};

/// The audit service.
pub struct AuditApi(pub Arc<App>);

#[tonic::async_trait]
impl AuditService for AuditApi {
    type ReadAuditStream =
        Pin<Box<dyn Stream<Item = Result<pb::ReadAuditResponse, Status>> + Send + 'static>>;

    async fn read_audit(
        &self,
        request: Request<pb::ReadAuditRequest>,
    ) -> Result<Response<Self::ReadAuditStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let chain = audit::chain_for(&caller, r.operator_chain).map_err(to_status)?;
        let filter = Filter {
            from_ms: r.from_unix_ms,
            to_ms: r.to_unix_ms,
            action: r.action,
            principal: r.principal,
            subject: r.subject,
        };
        // The read is recorded before anything is sent.
        audit::record_access(&self.0, &caller, chain, "audit.read", Vec::new())
            .await
            .map_err(to_status)?;
        let app = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Page by page, so memory stays bounded however long the chain is; a subject's
            // entries come from the subject index.
            let mut after = 0;
            loop {
                let page = match audit::page(&app, chain, &filter.subject, after).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                };
                let full = page.len() == audit::PAGE;
                if let Some(last) = page.last() {
                    after = last.seq;
                }
                for e in page.into_iter().filter(|e| filter.keeps(e)) {
                    let item = pb::ReadAuditResponse {
                        item: Some(pb::read_audit_response::Item::Entry(e)),
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            if !r.include_checkpoints {
                return;
            }
            match audit::checkpoints(&app, chain).await {
                Ok(cps) => {
                    for cp in cps {
                        let item = pb::ReadAuditResponse {
                            item: Some(pb::read_audit_response::Item::Checkpoint(cp)),
                        };
                        if tx.send(Ok(item)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(to_status(e))).await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn verify_audit(
        &self,
        request: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let v = audit::verify(&self.0, &caller, r.operator_chain)
            .await
            .map_err(to_status)?;
        let (first_bad_seq, problem) = v.problem.clone().unwrap_or_default();
        Ok(Response::new(pb::VerifyAuditResponse {
            ok: v.ok(),
            entries: v.entries,
            checkpoints: v.checkpoints,
            last_checkpoint_seq: v.last_checkpoint_seq,
            first_bad_seq,
            problem,
        }))
    }

    async fn get_audit_key(
        &self,
        request: Request<pb::GetAuditKeyRequest>,
    ) -> Result<Response<pb::GetAuditKeyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let chain = audit::chain_for(&caller, r.operator_chain).map_err(to_status)?;
        let key = audit::public_key(&self.0, chain).await.map_err(to_status)?;
        Ok(Response::new(pb::GetAuditKeyResponse {
            chain,
            public_key: key.to_vec(),
        }))
    }
}
