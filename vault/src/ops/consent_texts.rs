//! Versioned consent texts of a purpose: the exact words a subject agreed to, stored with their
//! SHA-256 so a receipt can name them and anyone can check them later.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::find_purpose;
use crate::{
    app::App,
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::{ConsentTextRecord, LegalBasis, Role},
};

/// Longest consent text, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Adds the next text version of a consent-based purpose (tenant-admin).
pub async fn add(
    app: &Arc<App>,
    caller: &Caller,
    purpose: &str,
    text: String,
) -> VaultResult<ConsentTextRecord> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    if text.trim().is_empty() {
        return Err(VaultError::invalid("text", "must not be empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(VaultError::invalid("text", "at most 65536 bytes"));
    }
    let mut purpose = find_purpose(app, tenant_id, purpose).await?;
    if purpose.legal_basis != LegalBasis::Consent {
        return Err(VaultError::FailedPrecondition(
            "purpose: its legal basis is not consent, so it has no consent text".into(),
        ));
    }
    let record = ConsentTextRecord {
        purpose: purpose.name.clone(),
        version: purpose.text_versions + 1,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        text,
        added_ms: app.now_ms(),
    };
    app.store.put_consent_text(tenant_id, &record).await?;
    purpose.text_versions = record.version;
    purpose.updated_ms = record.added_ms;
    app.put_purpose(&purpose).await?;
    let mut entry = caller.act(record.added_ms, "consent.text.add");
    entry.purpose = Some(purpose.name.clone());
    entry.counts = vec![("text_version".into(), u64::from(record.version))];
    app.audit.record(tenant_id, entry).await?;
    Ok(record)
}

/// Every text version of a purpose (tenant-admin, consent-manager).
pub async fn list(
    app: &Arc<App>,
    caller: &Caller,
    purpose: &str,
) -> VaultResult<Vec<ConsentTextRecord>> {
    let tenant_id = caller
        .tenant_with(Role::TenantAdmin)
        .or_else(|_| caller.tenant_with(Role::ConsentManager))?;
    let purpose = find_purpose(app, tenant_id, purpose).await?;
    Ok(app.store.consent_texts(tenant_id, &purpose.name).await?)
}

/// The text version `version` of a purpose, or INVALID_ARGUMENT naming `field`.
pub async fn get(
    app: &App,
    tenant_id: u64,
    purpose: &str,
    version: u32,
    field: &str,
) -> VaultResult<ConsentTextRecord> {
    app.store
        .consent_texts(tenant_id, purpose)
        .await?
        .into_iter()
        .find(|t| t.version == version)
        .ok_or_else(|| {
            VaultError::invalid(
                field,
                "no consent text of that version for this purpose (AddConsentText first)",
            )
        })
}
