//! `valv.v1.PseudonymService`.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status, Streaming};
use valv_proto::v1::{self as pb, pseudonym_service_server::PseudonymService};

use super::{caller, convert, status::to_status};
use crate::{
    app::App,
    authz::Caller,
    ops::{pseudonymise, records, reidentify, translate},
};

/// The pseudonym service.
pub struct PseudonymApi(pub Arc<App>);

async fn one_batch(
    app: &Arc<App>,
    caller: &Caller,
    r: pb::PseudonymiseRequest,
) -> Result<pb::PseudonymiseResponse, Status> {
    let out = pseudonymise::pseudonymise(app, caller, &r.domain, r.identifiers)
        .await
        .map_err(to_status)?;
    let results = out
        .results
        .into_iter()
        .enumerate()
        .map(|(i, item)| pb::PseudonymiseResult {
            outcome: Some(match item {
                Ok(p) => pb::pseudonymise_result::Outcome::Pseudonym(p),
                Err(rule) => pb::pseudonymise_result::Outcome::Error(pb::ItemError {
                    field: format!("identifiers[{i}]"),
                    rule,
                }),
            }),
        })
        .collect();
    Ok(pb::PseudonymiseResponse {
        batch_id: r.batch_id,
        results,
        created: out.created,
    })
}

async fn one_translation(
    app: &Arc<App>,
    caller: &Caller,
    r: pb::TranslatePseudonymsRequest,
) -> Result<pb::TranslatePseudonymsResponse, Status> {
    let out = translate::translate(app, caller, &r.agreement, r.pseudonyms)
        .await
        .map_err(to_status)?;
    let results = out
        .results
        .into_iter()
        .map(|item| pb::TranslateResult {
            verdict: convert::verdict(item.verdict).into(),
            pseudonym: item.pseudonym.unwrap_or_default(),
            old_epoch: item.old_epoch,
        })
        .collect();
    Ok(pb::TranslatePseudonymsResponse {
        results,
        batch_id: r.batch_id,
        created: out.created,
    })
}

/// Answers each message of a stream with `one` (a unit of work of its own), rechecking the
/// caller before each, and ends the stream after the first refusal.
fn answer_each<Req, Resp, F, Fut>(
    app: &Arc<App>,
    caller: Caller,
    mut incoming: Streaming<Req>,
    one: F,
) -> ReceiverStream<Result<Resp, Status>>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(Arc<App>, Caller, Req) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Resp, Status>> + Send,
{
    let app = Arc::clone(app);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(next) = incoming.next().await {
            // Each message is checked like a new call: a principal revoked, a tenant
            // shredded or a vault sealed while the stream is open stops it here.
            // Each batch is a unit of work of its own (`store::operation`).
            let operation = app.store.operation();
            let reply = match next {
                Ok(batch) => match super::recheck(&app, &caller).await {
                    Ok(now) => one(Arc::clone(&app), now, batch).await,
                    Err(status) => Err(status),
                },
                Err(status) => Err(status),
            };
            drop(operation);
            let stop = reply.is_err();
            if tx.send(reply).await.is_err() || stop {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

#[tonic::async_trait]
impl PseudonymService for PseudonymApi {
    async fn pseudonymise(
        &self,
        request: Request<pb::PseudonymiseRequest>,
    ) -> Result<Response<pb::PseudonymiseResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        Ok(Response::new(
            one_batch(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    type PseudonymiseStreamStream =
        Pin<Box<dyn Stream<Item = Result<pb::PseudonymiseResponse, Status>> + Send + 'static>>;

    async fn pseudonymise_stream(
        &self,
        request: Request<Streaming<pb::PseudonymiseRequest>>,
    ) -> Result<Response<Self::PseudonymiseStreamStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let stream = answer_each(
            &self.0,
            caller,
            request.into_inner(),
            |app, caller, batch| async move { one_batch(&app, &caller, batch).await },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn translate_pseudonyms(
        &self,
        request: Request<pb::TranslatePseudonymsRequest>,
    ) -> Result<Response<pb::TranslatePseudonymsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        Ok(Response::new(
            one_translation(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    type TranslatePseudonymsStreamStream = Pin<
        Box<dyn Stream<Item = Result<pb::TranslatePseudonymsResponse, Status>> + Send + 'static>,
    >;

    async fn translate_pseudonyms_stream(
        &self,
        request: Request<Streaming<pb::TranslatePseudonymsRequest>>,
    ) -> Result<Response<Self::TranslatePseudonymsStreamStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let stream = answer_each(
            &self.0,
            caller,
            request.into_inner(),
            |app, caller, batch| async move { one_translation(&app, &caller, batch).await },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn re_identify(
        &self,
        request: Request<pb::ReIdentifyRequest>,
    ) -> Result<Response<pb::ReIdentifyResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let out = reidentify::reidentify(&self.0, &caller, &r.domain, &r.purpose, r.pseudonyms)
            .await
            .map_err(to_status)?;
        let results = out
            .into_iter()
            .map(|item| pb::ReIdentifyResult {
                verdict: convert::verdict(item.verdict).into(),
                identifier: item.identifier.unwrap_or_default(),
                old_epoch: item.old_epoch,
            })
            .collect();
        Ok(Response::new(pb::ReIdentifyResponse { results }))
    }

    async fn pseudonymise_records(
        &self,
        request: Request<pb::PseudonymiseRecordsRequest>,
    ) -> Result<Response<pb::PseudonymiseRecordsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let out = records::pseudonymise_records(&self.0, &caller, &r.policy, r.records)
            .await
            .map_err(to_status)?;
        let results = out
            .results
            .into_iter()
            .enumerate()
            .map(|(i, item)| pb::PseudonymiseRecordResult {
                outcome: Some(match item {
                    Ok(record) => pb::pseudonymise_record_result::Outcome::Record(record.into()),
                    Err(errors) => pb::pseudonymise_record_result::Outcome::Error(
                        convert::record_error(i, errors),
                    ),
                }),
            })
            .collect();
        Ok(Response::new(pb::PseudonymiseRecordsResponse {
            batch_id: r.batch_id,
            results,
            created: out.created,
        }))
    }

    async fn re_identify_records(
        &self,
        request: Request<pb::ReIdentifyRecordsRequest>,
    ) -> Result<Response<pb::ReIdentifyRecordsResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let out = records::reidentify_records(&self.0, &caller, &r.policy, &r.purpose, r.records)
            .await
            .map_err(to_status)?;
        let results = out
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let fields = item
                    .fields
                    .into_iter()
                    .map(|(pointer, verdict, old_epoch)| pb::FieldVerdict {
                        pointer,
                        verdict: convert::verdict(verdict).into(),
                        old_epoch,
                    })
                    .collect();
                match item.record {
                    Ok(record) => pb::ReIdentifyRecordResult {
                        record: record.into(),
                        fields,
                        error: None,
                    },
                    Err(errors) => pb::ReIdentifyRecordResult {
                        record: Vec::new(),
                        fields,
                        error: Some(convert::record_error(i, errors)),
                    },
                }
            })
            .collect();
        Ok(Response::new(pb::ReIdentifyRecordsResponse { results }))
    }

    async fn get_limits(
        &self,
        request: Request<pb::GetLimitsRequest>,
    ) -> Result<Response<pb::ServerLimits>, Status> {
        // Any authenticated principal may ask.
        caller(&self.0, &request).await?;
        let limits = &self.0.limits;
        Ok(Response::new(pb::ServerLimits {
            max_batch: u32::try_from(limits.max_batch).unwrap_or(u32::MAX),
            max_message_bytes: limits.max_message_bytes as u64,
            max_identifier_bytes: u32::try_from(limits.max_identifier_bytes).unwrap_or(u32::MAX),
        }))
    }

    async fn check_identifiers(
        &self,
        request: Request<pb::CheckIdentifiersRequest>,
    ) -> Result<Response<pb::CheckIdentifiersResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let errors = pseudonymise::check(&self.0, &caller, &r.domain, &r.identifiers)
            .await
            .map_err(to_status)?
            .into_iter()
            .map(|(i, rule)| pb::ItemError {
                field: format!("identifiers[{i}]"),
                rule,
            })
            .collect();
        Ok(Response::new(pb::CheckIdentifiersResponse { errors }))
    }
}
