//! Signed checkpoints: every N entries or T seconds, each grown chain's head (sequence number and
//! hash) is signed with the chain's Ed25519 audit key and stored.
//!
//! A checkpoint is what makes truncation visible: deleting the tail of a chain leaves a valid
//! chain, but not one that reaches the last signed head. Only durable entries are signed (the
//! store is flushed first), so a crash can never leave a checkpoint ahead of its chain.

use std::{collections::HashMap, sync::Arc, time::Duration};

use valv_proto::{audit::checkpoint_message, v1::AuditCheckpoint};

use crate::{
    app::App,
    error::{VaultError, VaultResult},
};

/// Signs and stores a checkpoint of `chain`'s current head; `None` if the chain is empty or the
/// head is `already` signed.
pub async fn checkpoint_chain(
    app: &App,
    chain: u64,
    already: Option<u64>,
) -> VaultResult<Option<AuditCheckpoint>> {
    let unavailable = |e| VaultError::Unavailable(format!("audit checkpoint: {e}"));
    app.store.sync_all().await.map_err(unavailable)?;
    let Some((seq, head_hash)) = app.store.audit_head(chain).await? else {
        return Ok(None);
    };
    if already == Some(seq) {
        return Ok(None);
    }
    // Several nodes append to one chain and each notices it grew: the first to claim a head
    // signs it, the others leave it (one checkpoint per head, not one per node).
    if !app
        .store
        .mark_once(&format!("checkpoint/{chain}/{seq}"))
        .await?
    {
        return Ok(None);
    }
    let key = app.keys.tenant_keys(chain).await?.audit_signing_key();
    let mut cp = AuditCheckpoint {
        chain,
        seq,
        head_hash,
        at_unix_ms: app.now_ms(),
        signature: Vec::new(),
    };
    cp.signature = key.sign(&checkpoint_message(&cp)).to_vec();
    app.store.put_audit_checkpoint(&cp).await?;
    app.store.sync().await.map_err(unavailable)?;
    app.metrics.checkpoint();
    Ok(Some(cp))
}

/// Runs the checkpointer until the vault stops: wakes every `every` or when a chain has grown
/// by the configured number of entries, and checkpoints every chain that grew.
pub fn spawn(app: Arc<App>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut signed: HashMap<u64, u64> = HashMap::new();
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = app.audit.due.notified() => {}
            }
            // Signing needs keys; a sealed vault signs what grew once it is unsealed.
            if app.is_sealed() {
                continue;
            }
            for chain in app.audit.take_grown() {
                let operation = app.store.operation();
                let signed_now = checkpoint_chain(&app, chain, signed.get(&chain).copied()).await;
                drop(operation);
                match signed_now {
                    Ok(Some(cp)) => {
                        tracing::debug!(chain, seq = cp.seq, "audit checkpoint signed");
                        signed.insert(chain, cp.seq);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(chain, error = %e, "audit checkpoint failed"),
                }
            }
        }
    })
}
