//! gRPC services: thin. Each handler authenticates, converts the message, calls one use case
//! in `ops/` and converts the answer. Errors become statuses in `status.rs` only.

pub mod admin;
pub mod audit;
pub mod consent;
pub mod convert;
pub mod keys;
pub mod pseudonym;
pub mod retention;
pub mod seal;
pub mod status;
pub mod subject;

use tonic::{Request, Status};

use crate::{app::App, authz::Caller};

/// Authenticates the caller of `request` (bearer token, else TLS client certificate).
pub(crate) async fn caller<T>(app: &App, request: &Request<T>) -> Result<Caller, Status> {
    if app.is_sealed() {
        return Err(status::to_status(
            crate::error::VaultError::FailedPrecondition(
                "the vault is sealed; it answers only the seal service until unsealed (valvctl unseal)".into(),
            ),
        ));
    }
    let certs = request.peer_certs();
    let leaf = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
    let caller = crate::authz::authenticate(app, request.metadata(), leaf)
        .await
        .map_err(status::to_status)?;
    if let Some(tenant_id) = caller.principal.tenant_id {
        // Caches follow the store's per-tenant change counter (another node may have changed it).
        app.observe(tenant_id).await.map_err(status::to_status)?;
    }
    if caller
        .principal
        .tenant_id
        .is_some_and(|t| app.keys.is_shredded(t))
    {
        return Err(status::to_status(
            crate::error::VaultError::FailedPrecondition(
                "tenant: its keys were destroyed (shredded); nothing of it can be used".into(),
            ),
        ));
    }
    Ok(caller)
}
