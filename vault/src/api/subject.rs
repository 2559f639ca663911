//! `valv.v1.SubjectService`.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use valv_proto::v1::{self as pb, subject_service_server::SubjectService};

use super::{caller, consent::subject, status::to_status};
use crate::{
    app::App,
    ops::{subject_events, subjects},
    store::records::SubjectEventRecord,
};

fn event_kind(kind: &str) -> pb::SubjectEventKind {
    use subject_events::kind as k;
    match kind {
        k::GRANTED => pb::SubjectEventKind::ConsentGranted,
        k::WITHDRAWN => pb::SubjectEventKind::ConsentWithdrawn,
        k::EXPIRED => pb::SubjectEventKind::ConsentExpired,
        k::RESTRICTED => pb::SubjectEventKind::Restricted,
        k::LIFTED => pb::SubjectEventKind::RestrictionLifted,
        k::ERASED => pb::SubjectEventKind::Erased,
        _ => pb::SubjectEventKind::Unspecified,
    }
}

fn event(e: SubjectEventRecord) -> pb::SubjectEvent {
    pb::SubjectEvent {
        seq: e.seq,
        at_unix_ms: e.at_ms,
        kind: event_kind(&e.kind).into(),
        subject_ref: format!("subject:{}", e.subject),
        purpose: e.purpose,
        domain: e.domain,
        pseudonym: e.pseudonym,
    }
}

/// The subject service.
pub struct SubjectApi(pub Arc<App>);

#[tonic::async_trait]
impl SubjectService for SubjectApi {
    type WatchSubjectEventsStream =
        Pin<Box<dyn Stream<Item = Result<pb::SubjectEvent, Status>> + Send + 'static>>;

    async fn watch_subject_events(
        &self,
        request: Request<pb::WatchSubjectEventsRequest>,
    ) -> Result<Response<Self::WatchSubjectEventsStream>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let rx = subject_events::watch(&self.0, &caller, r.after_seq, r.follow)
            .await
            .map_err(to_status)?;
        // Data platforms (tokenizer) and subject officers act on pseudonyms; the consent desk,
        // which knows people by identifier, gets subject references only.
        let pseudonyms = caller
            .require(crate::store::records::Role::Tokenizer)
            .is_ok()
            || caller
                .require(crate::store::records::Role::SubjectOfficer)
                .is_ok();
        let app = Arc::clone(&self.0);
        // Each event is checked like a new call: a follower revoked (or its tenant shredded,
        // the vault sealed) gets nothing more and the stream ends.
        let stream = ReceiverStream::new(rx)
            .then(move |item| {
                let (app, caller) = (Arc::clone(&app), caller.clone());
                async move {
                    super::recheck(&app, &caller).await?;
                    item.map(|e| {
                        let mut e = event(e);
                        if !pseudonyms {
                            e.domain.clear();
                            e.pseudonym.clear();
                        }
                        e
                    })
                    .map_err(to_status)
                }
            })
            .map_while({
                // The first refusal is the stream's last message.
                let mut ended = false;
                move |item: Result<pb::SubjectEvent, Status>| {
                    if ended {
                        return None;
                    }
                    ended = item.is_err();
                    Some(item)
                }
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn export_subject(
        &self,
        request: Request<pb::ExportSubjectRequest>,
    ) -> Result<Response<pb::ExportSubjectResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let (domain, by) = subject(request.into_inner().subject)?;
        let document = subjects::export(&self.0, &caller, &domain, by)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ExportSubjectResponse { document }))
    }

    async fn erase_subject(
        &self,
        request: Request<pb::EraseSubjectRequest>,
    ) -> Result<Response<pb::EraseSubjectResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let (domain, by) = subject(request.into_inner().subject)?;
        let t = subjects::erase(&self.0, &caller, &domain, by)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::EraseSubjectResponse {
            tombstone: Some(pb::Tombstone {
                subject_ref: format!("subject:{}", t.subject),
                erased_unix_ms: t.erased_ms,
                erased_by: t.by,
                mappings: t.mappings,
                consent_events: t.consent_events,
                evidence: t.evidence,
            }),
        }))
    }

    async fn restrict_subject(
        &self,
        request: Request<pb::RestrictSubjectRequest>,
    ) -> Result<Response<pb::RestrictSubjectResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let r = request.into_inner();
        let (domain, by) = subject(r.subject)?;
        let subject_ref = subjects::restrict(&self.0, &caller, &domain, by, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RestrictSubjectResponse { subject_ref }))
    }

    async fn lift_restriction(
        &self,
        request: Request<pb::LiftRestrictionRequest>,
    ) -> Result<Response<pb::LiftRestrictionResponse>, Status> {
        let caller = caller(&self.0, &request).await?;
        let (domain, by) = subject(request.into_inner().subject)?;
        let lifted = subjects::lift(&self.0, &caller, &domain, by)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::LiftRestrictionResponse { lifted }))
    }
}
