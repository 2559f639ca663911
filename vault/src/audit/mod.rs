//! The audit log's single append point.
//!
//! Every act that must be recorded goes through [`AuditLog::record`], which appends and then
//! waits until the entry is durable: if that fails, the caller gets UNAVAILABLE and must not
//! perform (or release the result of) the act. Entries hold principal ids, domain and purpose
//! names, subject handles, pseudonyms, counts and the request id — never an identifier.
//!
//! The store links every entry to the previous one's hash (one chain per tenant, chain 0 for
//! operator acts; format in `proto/valv/v1/audit.proto`); `jobs::checkpoint` signs chain heads.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use crate::{
    error::{VaultError, VaultResult},
    observe::metrics::Metrics,
    store::{Store, records::AuditRecord},
};

/// Chain of operator acts (tenant chains use the tenant id).
pub const OPERATOR_CHAIN: u64 = 0;

/// Appends audit entries durably and tells the checkpointer which chains grew.
pub struct AuditLog {
    store: Arc<dyn Store>,
    /// Entries appended per chain since its last checkpoint.
    pending: Mutex<HashMap<u64, u64>>,
    /// Woken when a chain has grown by `checkpoint_every` entries.
    pub(crate) due: Notify,
    checkpoint_every: u64,
    metrics: Arc<Metrics>,
}

impl AuditLog {
    /// The log over `store`; a checkpoint is due after `checkpoint_every` entries of a chain.
    pub fn new(store: Arc<dyn Store>, checkpoint_every: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            store,
            pending: Mutex::new(HashMap::new()),
            due: Notify::new(),
            checkpoint_every: checkpoint_every.max(1),
        }
    }

    fn grew(&self, chain: u64) {
        self.metrics.audit_entry();
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let n = pending.entry(chain).or_insert(0);
        *n += 1;
        if *n >= self.checkpoint_every {
            self.due.notify_one();
        }
    }

    /// Chains that grew since the last call (and forgets them).
    pub(crate) fn take_grown(&self) -> Vec<u64> {
        self.pending
            .lock()
            .map(|mut p| p.drain().map(|(chain, _)| chain).collect())
            .unwrap_or_default()
    }

    /// Appends `entry` to `chain` without waiting for durability; the caller syncs the store
    /// before answering (one flush then covers the act and its entry).
    pub async fn append(&self, chain: u64, entry: AuditRecord) -> VaultResult<()> {
        self.store
            .append_audit(chain, vec![entry])
            .await
            .map_err(|e| {
                VaultError::Unavailable(format!("audit entry could not be written: {e}"))
            })?;
        self.grew(chain);
        Ok(())
    }

    /// Appends an entry whose durability may trail the act (pseudonymise counts): it is written
    /// now and flushed with the next durable write or the store's periodic flush.
    pub async fn append_lazy(&self, chain: u64, entry: AuditRecord) -> VaultResult<()> {
        self.store
            .append_audit_lazy(chain, vec![entry])
            .await
            .map_err(|e| {
                VaultError::Unavailable(format!("audit entry could not be written: {e}"))
            })?;
        self.grew(chain);
        Ok(())
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
        at_ms,
        principal: principal.to_owned(),
        action: action.to_owned(),
        ..AuditRecord::default()
    }
}
