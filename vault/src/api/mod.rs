//! gRPC services: thin. Each handler authenticates, converts the message, calls one use case
//! in `ops/` and converts the answer. Errors become statuses in `status.rs` only.

pub mod admin;
pub mod audit;
pub mod consent;
pub mod convert;
pub mod gate;
pub mod keys;
pub mod processing;
pub mod pseudonym;
pub mod retention;
pub mod seal;
pub mod status;
pub mod subject;

use tonic::{Request, Status};

use crate::{app::App, authz::Caller};

/// The caller of `request`: as the gate authenticated it from the call's head, or — for a
/// handler reached without the gate — authenticated now.
pub(crate) async fn caller<T>(app: &App, request: &Request<T>) -> Result<Caller, Status> {
    if let Some(gate::Authenticated(caller)) = request.extensions().get() {
        return Ok(caller.clone());
    }
    let certs = request.peer_certs();
    let leaf = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
    gate::authenticate(app, request.metadata().as_ref(), leaf).await
}

/// Checks again, for the next message of a long-lived stream, what authenticating the call
/// checked once: the vault is not sealed, the principal still exists unchanged-or-valid and is
/// not revoked, its tenant is not shredded. Returns the caller as stored now.
pub(crate) async fn recheck(app: &App, caller: &Caller) -> Result<Caller, Status> {
    use crate::error::VaultError;
    if app.is_sealed() {
        return Err(status::to_status(VaultError::FailedPrecondition(
            "the vault was sealed; the stream ends".into(),
        )));
    }
    let principal = app
        .principal(caller.id())
        .await
        .map_err(status::to_status)?
        .filter(|p| !p.revoked)
        .ok_or_else(|| status::to_status(VaultError::Unauthenticated("principal revoked")))?;
    if let Some(tenant_id) = principal.tenant_id {
        app.observe(tenant_id).await.map_err(status::to_status)?;
        if app.keys.is_shredded(tenant_id) {
            return Err(status::to_status(VaultError::FailedPrecondition(
                "tenant: its keys were destroyed (shredded); the stream ends".into(),
            )));
        }
    }
    Ok(Caller {
        principal,
        request_id: caller.request_id.clone(),
    })
}
