//! `valv.v1.SealService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, seal_service_server::SealService};

use super::{caller, status::to_status};
use crate::{app::App, ops::seal};

/// The seal service.
pub struct SealApi(pub Arc<App>);

fn status(s: seal::Status) -> pb::SealStatus {
    pb::SealStatus {
        sealed: s.sealed,
        threshold: s.threshold,
        shares: s.shares,
        progress: s.progress,
        root_provider: s.provider.to_owned(),
        new_shares_threshold: s.new_shares_threshold,
        new_shares_confirmed: s.new_shares_confirmed,
    }
}

#[tonic::async_trait]
impl SealService for SealApi {
    async fn get_seal_status(
        &self,
        _request: Request<pb::GetSealStatusRequest>,
    ) -> Result<Response<pb::SealStatus>, Status> {
        Ok(Response::new(status(seal::status(&self.0).await)))
    }

    async fn unseal(
        &self,
        request: Request<pb::UnsealRequest>,
    ) -> Result<Response<pb::SealStatus>, Status> {
        let peer = request.remote_addr().map(|a| a.ip());
        let body = request.into_inner();
        let s = seal::unseal(&self.0, &body.share, body.reset, peer)
            .await
            .map_err(to_status)?;
        Ok(Response::new(status(s)))
    }

    async fn confirm_new_share(
        &self,
        request: Request<pb::ConfirmNewShareRequest>,
    ) -> Result<Response<pb::SealStatus>, Status> {
        let peer = request.remote_addr().map(|a| a.ip());
        let s = seal::confirm_new_share(&self.0, &request.into_inner().share, peer)
            .await
            .map_err(to_status)?;
        Ok(Response::new(status(s)))
    }

    async fn seal(
        &self,
        request: Request<pb::SealRequest>,
    ) -> Result<Response<pb::SealStatus>, Status> {
        let caller = caller(&self.0, &request).await?;
        let s = seal::seal(&self.0, &caller).await.map_err(to_status)?;
        Ok(Response::new(status(s)))
    }
}
