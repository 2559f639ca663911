//! The copy steps, one per part of the store; each copies only what the target lacks.

use std::collections::{BTreeMap, HashMap};

use valv_kms::{WrappedKey, WrappedTenantKeys};
use valv_proto::v1::AuditEntry;

use crate::store::{
    Store, StoreError, StoreResult,
    records::{AuditRecord, NewMapping},
};

/// Mappings and evidence are copied in pages of this many.
const PAGE: usize = 1_000;

/// The budgets a migration carries over (`app::serials`).
const SERIALS: &str = "serials/";

/// Refuses a target that holds tenants the source does not (a migration fills an empty store,
/// or finishes one it started).
pub(super) async fn check_target(from: &dyn Store, to: &dyn Store) -> StoreResult<()> {
    for t in to.tenants().await? {
        match from.tenant(t.id).await? {
            Some(s) if s.name == t.name => {}
            _ => {
                return Err(StoreError::Backend(format!(
                    "the target holds tenant {} ({}) that the source does not; migrate into an empty store",
                    t.id, t.name
                )));
            }
        }
    }
    Ok(())
}

/// Ids, tenants, key rings and their use counts, domains, purposes and texts, record policies,
/// principals.
pub(super) async fn registry(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    let tenants = from.tenants().await?;
    let rings: BTreeMap<u64, WrappedTenantKeys> = from
        .all_tenant_keys()
        .await?
        .into_iter()
        .map(|k| (k.tenant_id, k))
        .collect();
    let mut highest = 0;
    for t in &tenants {
        highest = highest.max(t.id);
        if to.tenant(t.id).await?.is_none() {
            let ring = rings.get(&t.id).cloned().unwrap_or_else(|| no_ring(t.id));
            to.create_tenant(t, &ring).await?;
        }
        to.put_tenant(t).await?;
        if t.shredded_ms != 0 && to.tenant_keys(t.id).await?.is_some() {
            to.shred_tenant(t.id, t.shredded_ms).await?;
        }
    }
    progress("tenants", tenants.len() as u64);
    for ring in rings.values() {
        if to.tenant_keys(ring.tenant_id).await?.as_ref() != Some(ring) {
            to.put_tenant_keys(ring).await?;
        }
    }
    progress("key rings", rings.len() as u64);
    let mut chains = vec![0];
    chains.extend(tenants.iter().map(|t| t.id));
    for &id in &chains {
        let have: HashMap<u32, u64> = to.key_usage(id).await?.into_iter().collect();
        for (version, reserved) in from.key_usage(id).await? {
            let missing = reserved.saturating_sub(have.get(&version).copied().unwrap_or(0));
            if missing > 0 {
                to.reserve_key_usage(id, version, missing, u64::MAX).await?;
            }
        }
    }
    // Format-preserving serial counters: a serial must never be handed out twice.
    let have: HashMap<String, u64> = to
        .budgets(SERIALS)
        .await?
        .into_iter()
        .map(|(scope, _, used)| (scope, used))
        .collect();
    for (scope, win, used) in from.budgets(SERIALS).await? {
        let missing = used.saturating_sub(have.get(&scope).copied().unwrap_or(0));
        if missing > 0 {
            to.reserve_budget(&scope, win, missing, u64::MAX).await?;
        }
    }
    let (mut domains, mut purposes, mut principals) = (0, 0, 0);
    for t in &tenants {
        for d in from.list_domains(t.id).await? {
            highest = highest.max(d.id);
            match to.domain(t.id, &d.name).await? {
                None => to.create_domain(&d).await?,
                Some(have) if have != d => to.put_domain(&d).await?,
                Some(_) => {}
            }
            domains += 1;
        }
        for p in from.list_purposes(t.id).await? {
            to.put_purpose(&p).await?;
            for text in from.consent_texts(t.id, &p.name).await? {
                match to.put_consent_text(t.id, &text).await {
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            purposes += 1;
        }
        for policy in from.list_record_policies(t.id).await? {
            to.put_record_policy(&policy).await?;
        }
        for agreement in from.list_agreements(t.id).await? {
            match to.create_agreement(&agreement).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for p in from.list_principals(Some(t.id)).await? {
            to.put_principal(&p).await?;
            principals += 1;
        }
    }
    for p in from.list_principals(None).await? {
        to.put_principal(&p).await?;
        principals += 1;
    }
    progress("domains", domains);
    progress("purposes", purposes);
    progress("principals", principals);
    for j in from.jobs().await? {
        highest = highest.max(j.id);
    }
    for op in from.pending_ops().await? {
        highest = highest.max(op.id);
    }
    to.advance_ids(highest).await
}

/// A stand-in ring for a shredded tenant (its ring is gone in the source too): the tenant row
/// needs one to be created, and shredding deletes it at once.
fn no_ring(tenant_id: u64) -> WrappedTenantKeys {
    let none = || WrappedKey {
        provider: String::new(),
        root_key_id: String::new(),
        wrapped_hex: String::new(),
    };
    WrappedTenantKeys {
        tenant_id,
        encryption: vec![],
        pseudonym_epochs: vec![],
        subject: none(),
        signing: none(),
    }
}

/// Every mapping with its blind-index entry, domain by domain, page by page.
pub(super) async fn mappings(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    for t in from.tenants().await? {
        for d in from.list_domains(t.id).await? {
            let blind: HashMap<Vec<u8>, [u8; 16]> = from
                .blind_entries(d.id)
                .await?
                .into_iter()
                .map(|(b, p)| (p, b))
                .collect();
            let mut after = Vec::new();
            let mut copied = 0;
            loop {
                let page = from.scan_mappings(d.id, after.clone(), PAGE).await?;
                let Some((last, _)) = page.last() else {
                    break;
                };
                after.clone_from(last);
                let rows: Vec<NewMapping> = page
                    .into_iter()
                    .map(|(pseudonym, record)| NewMapping {
                        blind: blind.get(&pseudonym).copied(),
                        pseudonym,
                        record,
                    })
                    .collect();
                copied += rows.len() as u64;
                to.insert_mappings(t.id, d.id, rows).await?;
            }
            progress(&format!("mappings of {}/{}", t.name, d.name), copied);
        }
    }
    Ok(())
}

/// Consent histories (continued where the target's stand), and evidence.
pub(super) async fn consents(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    let (mut events, mut evidence) = (0, 0);
    for t in from.tenants().await? {
        let mut histories: BTreeMap<(crate::model::SubjectHandle, String), Vec<_>> =
            BTreeMap::new();
        for (subject, purpose, event) in from.scan_consents(t.id).await? {
            histories.entry((subject, purpose)).or_default().push(event);
        }
        for ((subject, purpose), history) in histories {
            let have = to.consent_history(t.id, subject, &purpose).await?.len();
            for event in history.into_iter().skip(have) {
                let want = event.seq;
                let stored = to.append_consent(t.id, subject, &purpose, event).await?;
                if stored.seq != want {
                    return Err(StoreError::Backend(format!(
                        "consent history of tenant {}: event {want} became {}",
                        t.id, stored.seq
                    )));
                }
                events += 1;
            }
        }
        let mut after = Vec::new();
        loop {
            let page = from.scan_evidence(t.id, after.clone(), PAGE).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after.clone_from(last);
            for (id, ciphertext) in page {
                to.put_evidence(t.id, &id, ciphertext).await?;
                evidence += 1;
            }
        }
    }
    progress("consent events", events);
    progress("evidence", evidence);
    Ok(())
}

/// Restrictions, tombstones, subject events (continued after the target's last) and markers.
pub(super) async fn subjects(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    let mut events = 0;
    for t in from.tenants().await? {
        for r in from.restrictions(t.id).await? {
            to.put_restriction(t.id, &r).await?;
        }
        for tomb in from.tombstones(t.id).await? {
            to.put_tombstone(t.id, &tomb).await?;
        }
        let last = to
            .subject_events(t.id, 0, usize::MAX)
            .await?
            .last()
            .map_or(0, |e| e.seq);
        let missing = from.subject_events(t.id, last, usize::MAX).await?;
        events += missing.len() as u64;
        to.append_subject_events(t.id, missing).await?;
    }
    let marks = from.marks("").await?;
    for key in &marks {
        to.mark_once(key).await?;
    }
    progress("subject events", events);
    progress("markers", marks.len() as u64);
    Ok(())
}

/// An entry as the act that wrote it built it (appending it again gives the same hash).
fn as_record(e: AuditEntry) -> AuditRecord {
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    AuditRecord {
        at_ms: e.at_unix_ms,
        principal: e.principal,
        action: e.action,
        domain: some(e.domain),
        purpose: some(e.purpose),
        subject: some(e.subject),
        verdict: some(e.verdict),
        request_id: e.request_id,
        counts: e.counts.into_iter().map(|c| (c.name, c.value)).collect(),
        item_subjects: e.items.iter().map(|i| i.subject.clone()).collect(),
        items: e.items.into_iter().map(|i| (i.target, i.outcome)).collect(),
        changes: e
            .changes
            .into_iter()
            .map(|c| (c.field, c.before, c.after))
            .collect(),
    }
}

/// Audit chains (continued after the target's head, which must be the source's entry there)
/// and their signed checkpoints, as they are.
pub(super) async fn audit(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    let mut chains = vec![0];
    chains.extend(from.tenants().await?.iter().map(|t| t.id));
    let mut entries = 0;
    for chain in chains {
        let head = to.audit_head(chain).await?;
        let mut next = match &head {
            Some((seq, hash)) => {
                let source = from.read_audit(chain, *seq, 1).await?;
                if source.first().map(|e| &e.hash) != Some(hash) {
                    return Err(StoreError::Backend(format!(
                        "audit chain {chain}: the target's entry {seq} is not the source's"
                    )));
                }
                seq + 1
            }
            None => 1,
        };
        loop {
            let page = from.read_audit(chain, next, PAGE).await?;
            let Some(last) = page.last().map(|e| (e.seq, e.hash.clone())) else {
                break;
            };
            entries += page.len() as u64;
            to.append_audit(chain, page.into_iter().map(as_record).collect())
                .await?;
            if to.audit_head(chain).await?.as_ref() != Some(&last) {
                return Err(StoreError::Backend(format!(
                    "audit chain {chain}: entry {} did not hash as in the source",
                    last.0
                )));
            }
            next = last.0 + 1;
        }
        for cp in from.audit_checkpoints(chain).await? {
            to.put_audit_checkpoint(&cp).await?;
        }
    }
    progress("audit entries", entries);
    Ok(())
}

/// Jobs and pending operations, as they are.
pub(super) async fn jobs(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<()> {
    let jobs = from.jobs().await?;
    for j in &jobs {
        to.put_job(j).await?;
    }
    let ops = from.pending_ops().await?;
    for op in &ops {
        to.put_pending_op(op).await?;
    }
    progress("jobs", jobs.len() as u64);
    progress("pending operations", ops.len() as u64);
    Ok(())
}
