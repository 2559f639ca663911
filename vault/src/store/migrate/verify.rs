//! Checking a target against its source: counts per part of the store, and every audit chain
//! (entries identical and linked, checkpoints identical and naming entries that exist).

use std::fmt::Write as _;

use valv_proto::audit::verify_chain;

use crate::store::{Store, StoreResult};

/// What was compared, and what differed.
#[derive(Debug, Default)]
pub struct Report {
    /// (what, in the source, in the target).
    pub counts: Vec<(String, u64, u64)>,
    /// Differences found (empty: the target matches).
    pub problems: Vec<String>,
}

impl Report {
    fn count(&mut self, what: impl Into<String>, source: usize, target: usize) {
        let what = what.into();
        if source != target {
            self.problems.push(format!(
                "{what}: {source} in the source, {target} in the target"
            ));
        }
        self.counts.push((what, source as u64, target as u64));
    }

    /// The counts as an aligned table, one line per part.
    pub fn table(&self) -> String {
        let width = self
            .counts
            .iter()
            .map(|(w, _, _)| w.len())
            .max()
            .unwrap_or(0);
        let mut out = format!("{:width$}  {:>10}  {:>10}\n", "", "source", "target");
        for (what, s, t) in &self.counts {
            let _ = writeln!(out, "{what:width$}  {s:>10}  {t:>10}");
        }
        out
    }
}

/// Compares every part of `to` with `from`.
pub(super) async fn compare(from: &dyn Store, to: &dyn Store) -> StoreResult<Report> {
    let mut r = Report::default();
    let tenants = from.tenants().await?;
    r.count("tenants", tenants.len(), to.tenants().await?.len());
    r.count(
        "key rings",
        from.all_tenant_keys().await?.len(),
        to.all_tenant_keys().await?.len(),
    );
    let (mut sd, mut td, mut sm, mut tm, mut sb, mut tb) = (0, 0, 0, 0, 0, 0);
    let (mut sp, mut tp, mut sc, mut tc, mut se, mut te) = (0, 0, 0, 0, 0, 0);
    let (mut sx, mut tx, mut sr, mut tr, mut st, mut tt) = (0, 0, 0, 0, 0, 0);
    let (mut su, mut tu, mut spr, mut tpr, mut spo, mut tpo) = (0, 0, 0, 0, 0, 0);
    let (mut sa, mut ta) = (0, 0);
    for t in &tenants {
        let domains = from.list_domains(t.id).await?;
        sd += domains.len();
        td += to.list_domains(t.id).await?.len();
        for d in &domains {
            sm += count_mappings(from, d.id).await?;
            tm += count_mappings(to, d.id).await?;
            sb += from.blind_entries(d.id).await?.len();
            tb += to.blind_entries(d.id).await?.len();
        }
        let purposes = from.list_purposes(t.id).await?;
        sp += purposes.len();
        tp += to.list_purposes(t.id).await?.len();
        for p in &purposes {
            sx += from.consent_texts(t.id, &p.name).await?.len();
            tx += to.consent_texts(t.id, &p.name).await?.len();
        }
        sc += from.scan_consents(t.id).await?.len();
        tc += to.scan_consents(t.id).await?.len();
        se += count_evidence(from, t.id).await?;
        te += count_evidence(to, t.id).await?;
        sr += from.restrictions(t.id).await?.len();
        tr += to.restrictions(t.id).await?.len();
        st += from.tombstones(t.id).await?.len();
        tt += to.tombstones(t.id).await?.len();
        su += from.subject_events(t.id, 0, usize::MAX).await?.len();
        tu += to.subject_events(t.id, 0, usize::MAX).await?.len();
        spo += from.list_record_policies(t.id).await?.len();
        tpo += to.list_record_policies(t.id).await?.len();
        sa += from.list_agreements(t.id).await?.len();
        ta += to.list_agreements(t.id).await?.len();
        spr += from.list_principals(Some(t.id)).await?.len();
        tpr += to.list_principals(Some(t.id)).await?.len();
    }
    spr += from.list_principals(None).await?.len();
    tpr += to.list_principals(None).await?.len();
    r.count("domains", sd, td);
    r.count("mappings", sm, tm);
    r.count("blind-index entries", sb, tb);
    r.count("purposes", sp, tp);
    r.count("consent texts", sx, tx);
    r.count("consent events", sc, tc);
    r.count("evidence", se, te);
    r.count("restrictions", sr, tr);
    r.count("tombstones", st, tt);
    r.count("subject events", su, tu);
    r.count("record policies", spo, tpo);
    r.count("sharing agreements", sa, ta);
    r.count("principals", spr, tpr);
    r.count(
        "markers",
        from.marks("").await?.len(),
        to.marks("").await?.len(),
    );
    r.count("jobs", from.jobs().await?.len(), to.jobs().await?.len());
    r.count(
        "pending operations",
        from.pending_ops().await?.len(),
        to.pending_ops().await?.len(),
    );
    let mut chains = vec![0];
    chains.extend(tenants.iter().map(|t| t.id));
    for chain in chains {
        chain_matches(from, to, chain, &mut r).await?;
    }
    Ok(r)
}

/// Chain `chain` in the target: linked and hashed from entry 1, the same entries and the same
/// checkpoints as the source, each checkpoint naming an entry with its hash.
async fn chain_matches(
    from: &dyn Store,
    to: &dyn Store,
    chain: u64,
    r: &mut Report,
) -> StoreResult<()> {
    let source = from.read_audit(chain, 1, usize::MAX).await?;
    let target = to.read_audit(chain, 1, usize::MAX).await?;
    r.count(format!("audit chain {chain}"), source.len(), target.len());
    let verified = verify_chain(chain, &target, &[], &[]);
    if let Some((seq, why)) = verified.problem {
        r.problems
            .push(format!("audit chain {chain} at entry {seq}: {why}"));
    }
    if source != target {
        r.problems.push(format!(
            "audit chain {chain}: entries differ from the source"
        ));
    }
    let (scp, tcp) = (
        from.audit_checkpoints(chain).await?,
        to.audit_checkpoints(chain).await?,
    );
    r.count(
        format!("checkpoints of chain {chain}"),
        scp.len(),
        tcp.len(),
    );
    if scp != tcp {
        r.problems.push(format!(
            "audit chain {chain}: checkpoints differ from the source"
        ));
    }
    for cp in &tcp {
        let named = usize::try_from(cp.seq)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| target.get(i));
        if named.map(|e| &e.hash) != Some(&cp.head_hash) {
            r.problems.push(format!(
                "audit chain {chain}: checkpoint at {} names no entry with its hash",
                cp.seq
            ));
        }
    }
    Ok(())
}

async fn count_mappings(store: &dyn Store, domain: u64) -> StoreResult<usize> {
    let (mut n, mut after) = (0, Vec::new());
    loop {
        let page = store.scan_mappings(domain, after, 10_000).await?;
        let Some((last, _)) = page.last() else {
            return Ok(n);
        };
        after = last.clone();
        n += page.len();
    }
}

async fn count_evidence(store: &dyn Store, tenant: u64) -> StoreResult<usize> {
    let (mut n, mut after) = (0, Vec::new());
    loop {
        let page = store.scan_evidence(tenant, after, 10_000).await?;
        let Some((last, _)) = page.last() else {
            return Ok(n);
        };
        after = last.clone();
        n += page.len();
    }
}
