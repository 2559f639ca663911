//! Read and verify an audit chain. Auditors read their tenant's chain, operators the chain of
//! operator acts; nobody else reads either. Reading and verifying are themselves audited.

use valv_proto::{
    audit::{ChainVerifier, Verification},
    v1::{AuditCheckpoint, AuditEntry},
};

use crate::{
    app::App, audit::OPERATOR_CHAIN, authz::Caller, error::VaultResult, store::records::Role,
};

/// Entries read from the store per step.
pub const PAGE: usize = 1000;

/// Which chain `caller` may read: the operator chain (operators, when asked for it) or the
/// caller's tenant chain (auditors).
pub fn chain_for(caller: &Caller, operator_chain: bool) -> VaultResult<u64> {
    if operator_chain {
        caller.require(Role::Operator)?;
        Ok(OPERATOR_CHAIN)
    } else {
        caller.tenant_with(Role::Auditor)
    }
}

/// What `ReadAudit` keeps (empty / 0 = everything).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Earliest time, inclusive.
    pub from_ms: i64,
    /// Latest time, inclusive.
    pub to_ms: i64,
    /// Action name.
    pub action: String,
    /// Principal id.
    pub principal: String,
    /// Subject handle (hex).
    pub subject: String,
}

impl Filter {
    /// Whether `e` passes.
    pub fn keeps(&self, e: &AuditEntry) -> bool {
        (self.from_ms == 0 || e.at_unix_ms >= self.from_ms)
            && (self.to_ms == 0 || e.at_unix_ms <= self.to_ms)
            && (self.action.is_empty() || e.action == self.action)
            && (self.principal.is_empty() || e.principal == self.principal)
            && (self.subject.is_empty()
                || e.subject == self.subject
                || e.items.iter().any(|i| i.subject == self.subject))
    }
}

/// The next page of `chain` after sequence number `after`: every entry, or — for a subject
/// handle — only the entries naming it, found through the store's subject index (the cost
/// follows the subject's entries, not the chain's length).
pub async fn page(
    app: &App,
    chain: u64,
    subject: &str,
    after: u64,
) -> VaultResult<Vec<AuditEntry>> {
    Ok(if subject.is_empty() {
        app.store
            .read_audit(chain, after.saturating_add(1), PAGE)
            .await?
    } else {
        app.store.subject_audit(chain, subject, after, PAGE).await?
    })
}

/// Calls `each` with every entry of `chain` in order, a page at a time.
pub async fn for_each_entry(
    app: &App,
    chain: u64,
    mut each: impl FnMut(AuditEntry) -> bool,
) -> VaultResult<()> {
    let mut from = 1;
    loop {
        let page = app.store.read_audit(chain, from, PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Ok(());
        };
        let full = page.len() == PAGE;
        for e in page {
            if !each(e) {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
        from = last.saturating_add(1);
    }
}

/// Records that `caller` read or verified `chain`.
pub async fn record_access(
    app: &App,
    caller: &Caller,
    chain: u64,
    action: &str,
    counts: Vec<(String, u64)>,
) -> VaultResult<()> {
    let mut entry = caller.act(app.now_ms(), action);
    entry.counts = counts;
    app.audit.record(chain, entry).await
}

/// The checkpoints of `chain`.
pub async fn checkpoints(app: &App, chain: u64) -> VaultResult<Vec<AuditCheckpoint>> {
    Ok(app.store.audit_checkpoints(chain).await?)
}

/// The chain's Ed25519 public key.
pub async fn public_key(app: &App, chain: u64) -> VaultResult<[u8; 32]> {
    Ok(app
        .keys
        .tenant_keys(chain)
        .await?
        .audit_signing_key()
        .public_key())
}

/// Verifies the whole of `chain` as stored, then records the verification.
pub async fn verify(app: &App, caller: &Caller, operator_chain: bool) -> VaultResult<Verification> {
    let chain = chain_for(caller, operator_chain)?;
    // The checkpoints first (one per thousand entries or so), then the entries as they stream
    // from the store, page by page: memory does not grow with the chain. Entries are read
    // without a snapshot: ones appended meanwhile are checked too, or not at all — never half;
    // a checkpoint signed meanwhile for an entry read is checked the next time.
    let cps = checkpoints(app, chain).await?;
    let key = public_key(app, chain).await?;
    let mut verifier = ChainVerifier::new(chain, &cps, &key);
    for_each_entry(app, chain, |e| verifier.push(&e)).await?;
    let v = verifier.finish();
    record_access(
        app,
        caller,
        chain,
        "audit.verify",
        vec![
            ("entries".into(), v.entries),
            ("ok".into(), u64::from(v.ok())),
        ],
    )
    .await?;
    Ok(v)
}
