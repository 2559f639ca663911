//! The audit log's single append point.
//!
//! Every act that must be recorded goes through [`AuditLog::record`], which appends and then
//! waits until the entry is durable: if that fails, the caller gets UNAVAILABLE and must not
//! perform (or release the result of) the act. Entries hold principal ids, domain and purpose
//! names, subject handles, pseudonyms and counts — never an identifier. The hash chain and
//! signed checkpoints of a later issue attach here.

use std::sync::Arc;

use crate::{
    error::{VaultError, VaultResult},
    store::{Store, records::AuditRecord},
};

/// Chain of operator acts (tenant chains use the tenant id).
pub const OPERATOR_CHAIN: u64 = 0;

/// Appends audit entries durably.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
}

impl AuditLog {
    /// The log over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Appends `entry` to `chain` without waiting for durability; the caller syncs the store
    /// before answering (one flush then covers the act and its entry).
    pub async fn append(&self, chain: u64, entry: AuditRecord) -> VaultResult<()> {
        self.store
            .append_audit(chain, vec![entry])
            .await
            .map_err(|e| VaultError::Unavailable(format!("audit entry could not be written: {e}")))
    }

    /// Appends an entry whose durability may trail the act (pseudonymise counts): it is written
    /// now and flushed with the next durable write or the store's periodic flush.
    pub async fn append_lazy(&self, chain: u64, entry: AuditRecord) -> VaultResult<()> {
        self.store
            .append_audit_lazy(chain, vec![entry])
            .await
            .map_err(|e| VaultError::Unavailable(format!("audit entry could not be written: {e}")))
    }

    /// Appends `entry` and waits until it is durable.
    pub async fn record(&self, chain: u64, entry: AuditRecord) -> VaultResult<()> {
        self.append(chain, entry).await?;
        self.store.sync().await.map_err(|e| {
            VaultError::Unavailable(format!("audit entry could not be made durable: {e}"))
        })
    }
}

/// A new entry with the common fields set.
pub fn entry(at_ms: i64, principal: &str, action: &str) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at_ms,
        principal: principal.to_owned(),
        action: action.to_owned(),
        domain: None,
        purpose: None,
        subject: None,
        counts: Vec::new(),
        items: Vec::new(),
    }
}
