//! Use cases: each public function is one act of the vault (create a domain, pseudonymise a
//! batch, re-identify, grant a consent …), combining the pure engine, the store and the audit
//! log. They take an authenticated [`Caller`](crate::authz::Caller) and plain Rust values; the
//! gRPC layer in `api/` only converts messages and maps errors.

pub mod admin;
pub mod approval;
pub mod approve;
pub mod audit;
pub mod consent;
pub mod consent_list;
pub mod consent_texts;
pub mod enrolment;
pub mod epochs;
pub mod independence;
pub mod keys;
pub mod policies;
pub mod principal_record;
pub mod principals;
pub mod processing;
pub mod pseudonymise;
pub mod receipts;
pub mod records;
pub mod reidentify;
pub mod retention;
pub mod root;
pub mod seal;
pub mod setup;
pub mod sharing;
pub mod shred;
pub mod subject;
pub mod subject_events;
pub mod subjects;
#[cfg(test)]
mod tests;
pub mod translate;

use crate::{
    app::App,
    error::{VaultError, VaultResult},
    store::records::{DomainRecord, PurposeRecord},
};

/// The caller's domain `name`, or NOT_FOUND (also for another tenant's domain of that name).
pub(crate) async fn find_domain(
    app: &App,
    tenant_id: u64,
    name: &str,
) -> VaultResult<DomainRecord> {
    if name.is_empty() {
        return Err(VaultError::invalid("domain", "must not be empty"));
    }
    app.current_domain(tenant_id, name)
        .await?
        .ok_or_else(|| VaultError::NotFound("domain: no such domain in this tenant".into()))
}

/// The caller's purpose `name`, or NOT_FOUND.
pub(crate) async fn find_purpose(
    app: &App,
    tenant_id: u64,
    name: &str,
) -> VaultResult<PurposeRecord> {
    if name.is_empty() {
        return Err(VaultError::invalid("purpose", "must not be empty"));
    }
    app.current_purpose(tenant_id, name)
        .await?
        .ok_or_else(|| VaultError::NotFound("purpose: not defined in this tenant".into()))
}

/// Refuses empty and over-limit batches.
pub(crate) fn check_batch(app: &App, field: &str, len: usize) -> VaultResult<()> {
    if len == 0 {
        return Err(VaultError::invalid(field, "must not be empty"));
    }
    if len > app.limits.max_batch {
        return Err(VaultError::ResourceExhausted(format!(
            "{field}: {len} items exceed the batch limit of {}",
            app.limits.max_batch
        )));
    }
    Ok(())
}
