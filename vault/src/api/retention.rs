//! `valv.v1.RetentionService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, retention_service_server::RetentionService};

use super::{caller, status::to_status};
use crate::{
    app::App,
    error::VaultError,
    ops::retention::{self, Target},
};

/// The retention service.
pub struct RetentionApi(pub Arc<App>);

#[tonic::async_trait]
impl RetentionService for RetentionApi {
    async fn plan_retention(
        &self,
        request: Request<pb::PlanRetentionRequest>,
    ) -> Result<Response<pb::PlanRetentionResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        retention::check_until(r.until_unix_ms).map_err(to_status)?;
        let limit = match r.limit {
            0 => 1000,
            n if n > 10_000 => {
                return Err(to_status(VaultError::invalid("limit", "at most 10000")));
            }
            n => n as usize,
        };
        let due = retention::plan_for(&self.0, &caller, r.until_unix_ms)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::PlanRetentionResponse {
            total: due.len() as u64,
            items: due
                .iter()
                .take(limit)
                .map(|d| {
                    let (a, b) = d.names();
                    pb::RetentionItem {
                        kind: match d.target {
                            Target::Mapping { .. } => "mapping",
                            Target::Evidence { .. } => "evidence",
                        }
                        .into(),
                        domain_or_purpose: a,
                        pseudonym_or_receipt: b,
                        due_unix_ms: d.due_ms,
                        reason: d.reason.as_str().into(),
                    }
                })
                .collect(),
        }))
    }

    async fn run_retention(
        &self,
        request: Request<pb::RunRetentionRequest>,
    ) -> Result<Response<pb::RunRetentionResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let reaped = retention::run_now(&self.0, &caller)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RunRetentionResponse {
            mappings_deleted: reaped.mappings,
            evidence_deleted: reaped.evidence,
        }))
    }
}
