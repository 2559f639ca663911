//! Retention ("gallring"): what is due for deletion and when, and the reaper that deletes it.
//!
//! Due are: mappings past their expiry (retention since creation, or since last use — the
//! expiry slides forward when a mapping is used), mappings of a consent-bound domain whose
//! subject's consent for that purpose ended (withdrawn or expired), and consent evidence kept
//! past its purpose's retention after the consent ended. The plan is computed from the store
//! each time, so the reaper is idempotent and resumes after a crash by simply running again;
//! its job record says whether a run was cut off. Deleted mappings are announced to downstream
//! systems as `erased` subject events, and every run writes its counts to the audit log.

use std::{collections::HashMap, sync::Arc};

use crate::model::records::{JobKind, JobState};
use crate::{
    app::{App, keys::seal_mapping},
    audit,
    authz::Caller,
    engine::{
        consent::{ConsentEvent, ConsentEventKind},
        mapping_bound::Governing,
        scheme::Pseudonym,
    },
    error::{VaultError, VaultResult},
    store::records::{DomainRecord, JobRecord, MappingRecord, Role},
};

use super::subject_events;

/// Why something is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The domain's retention period passed (since creation or last use).
    Retention,
    /// The subject's consent for the domain's bound purpose ended.
    ConsentEnded,
    /// Consent evidence kept past its purpose's retention after the consent ended.
    EvidenceRetention,
}

impl Reason {
    /// As the wire and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retention => "retention",
            Self::ConsentEnded => "consent-ended",
            Self::EvidenceRetention => "evidence-retention",
        }
    }
}

/// What is due.
#[derive(Debug, Clone)]
pub enum Target {
    /// A mapping.
    Mapping {
        /// Its domain.
        domain: DomainRecord,
        /// Pseudonym bytes.
        pseudonym: Vec<u8>,
        /// Subject handle.
        subject: [u8; 16],
        /// The row as planned (deleted only if still exactly this).
        record: MappingRecord,
    },
    /// Consent evidence.
    Evidence {
        /// Purpose.
        purpose: String,
        /// Receipt id bytes.
        receipt_id: Vec<u8>,
    },
}

/// One planned deletion.
#[derive(Debug, Clone)]
pub struct Due {
    /// What.
    pub target: Target,
    /// When it is (or was) due, ms.
    pub due_ms: i64,
    /// Why.
    pub reason: Reason,
}

impl Due {
    /// `(domain, pseudonym)` or `(purpose, receipt id)` as text.
    pub fn names(&self) -> (String, String) {
        match &self.target {
            Target::Mapping {
                domain, pseudonym, ..
            } => (
                domain.name.clone(),
                Pseudonym(pseudonym.clone()).declassify(domain.scheme),
            ),
            Target::Evidence {
                purpose,
                receipt_id,
            } => (purpose.clone(), hex::encode(receipt_id)),
        }
    }
}

/// When a consent ended (withdrawal, or a passed end of validity at `by_ms`); `None` if it runs.
fn ended(latest: &ConsentEvent, by_ms: i64) -> Option<i64> {
    match latest.kind {
        ConsentEventKind::Withdrawn => Some(latest.at_ms),
        ConsentEventKind::Granted
            if latest.valid_until_ms != 0 && latest.valid_until_ms <= by_ms =>
        {
            Some(latest.valid_until_ms)
        }
        ConsentEventKind::Granted => None,
    }
}

/// Everything of a tenant due by `until_ms`, in due order.
pub async fn plan(app: &App, tenant_id: u64, until_ms: i64) -> VaultResult<Vec<Due>> {
    let mut consents: HashMap<([u8; 16], String), Vec<ConsentEvent>> = HashMap::new();
    for (subject, purpose, e) in app.scan_consents(tenant_id).await? {
        consents.entry((subject, purpose)).or_default().push(e);
    }
    let mut due = Vec::new();
    for domain in app.domains(tenant_id).await? {
        let bound = !domain.consent_purpose.is_empty();
        if domain.retention_seconds == 0 && !bound {
            continue;
        }
        let mut after = Vec::new();
        loop {
            let page = app.store.scan_mappings(domain.id, after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            for (pseudonym, record) in page {
                let mut when =
                    (record.expires_ms != 0).then_some((record.expires_ms, Reason::Retention));
                if bound
                    && let Some(end) = consents
                        .get(&(record.subject, domain.consent_purpose.clone()))
                        .and_then(|h| h.last())
                        .and_then(|e| ended(e, until_ms))
                    && when.is_none_or(|(t, _)| end < t)
                {
                    when = Some((end, Reason::ConsentEnded));
                }
                if let Some((due_ms, reason)) = when.filter(|(t, _)| *t <= until_ms) {
                    due.push(Due {
                        target: Target::Mapping {
                            domain: domain.clone(),
                            subject: record.subject,
                            pseudonym,
                            record,
                        },
                        due_ms,
                        reason,
                    });
                }
            }
        }
    }
    let purposes: HashMap<String, u64> = app
        .purposes(tenant_id)
        .await?
        .into_iter()
        .filter(|p| p.evidence_retention_seconds > 0)
        .map(|p| (p.name, p.evidence_retention_seconds))
        .collect();
    for ((_, purpose), history) in &consents {
        let Some(keep_s) = purposes.get(purpose) else {
            continue;
        };
        let Some(end) = history.last().and_then(|e| ended(e, until_ms)) else {
            continue;
        };
        let due_ms =
            end.saturating_add(i64::try_from(keep_s.saturating_mul(1000)).unwrap_or(i64::MAX));
        if due_ms > until_ms {
            continue;
        }
        for e in history.iter().filter(|e| !e.receipt_id.is_empty()) {
            let Ok(id) = hex::decode(&e.receipt_id) else {
                continue;
            };
            if app.store.evidence(tenant_id, &id).await?.is_some() {
                due.push(Due {
                    target: Target::Evidence {
                        purpose: purpose.clone(),
                        receipt_id: id,
                    },
                    due_ms,
                    reason: Reason::EvidenceRetention,
                });
            }
        }
    }
    due.sort_by_key(|d| d.due_ms);
    Ok(due)
}

/// `PlanRetention` (tenant-admin, subject-officer): what is due by `until_ms` (0: now).
pub async fn plan_for(app: &Arc<App>, caller: &Caller, until_ms: i64) -> VaultResult<Vec<Due>> {
    let tenant_id = caller
        .tenant_with(Role::TenantAdmin)
        .or_else(|_| caller.tenant_with(Role::SubjectOfficer))?;
    let until = if until_ms == 0 {
        app.now_ms()
    } else {
        until_ms
    };
    plan(app, tenant_id, until).await
}

/// Counts of one reaper run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Mappings deleted.
    pub mappings: u64,
    /// Evidence records deleted.
    pub evidence: u64,
}

/// Deletes everything due now. Audited (counts) before it deletes; each deletion checks that
/// the row is unchanged since planning (a mapping used in between is spared).
pub async fn reap(app: &App, tenant_id: u64, started_by: &str) -> VaultResult<Reaped> {
    let now = app.now_ms();
    let mut job = JobRecord {
        id: app.store.next_id().await?,
        tenant_id,
        kind: JobKind::Retention,
        state: JobState::Running,
        started_ms: now,
        started_by: started_by.to_owned(),
        // Held by this process while it runs; another takes the run over only after the lease
        // runs out (a run is not renewed page by page: it is one pass over a computed plan).
        lease_owner: app.node_id.clone(),
        lease_until_ms: now.saturating_add(RETENTION_LEASE_MS),
        ..JobRecord::default()
    };
    let due = plan(app, tenant_id, now).await?;
    job.total = due.len() as u64;
    app.store.put_job(&job).await?;
    let mut entry = audit::entry(now, started_by, "retention.reap");
    let mut per_reason: HashMap<&str, u64> = HashMap::new();
    for d in &due {
        *per_reason.entry(d.reason.as_str()).or_default() += 1;
    }
    let mut counts: Vec<(String, u64)> = per_reason
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    counts.sort();
    counts.push(("job".into(), job.id));
    entry.counts = counts;
    app.audit.record(tenant_id, entry).await?;

    let mut reaped = Reaped::default();
    let mut events = Vec::new();
    let mut blinds: HashMap<u64, HashMap<Vec<u8>, [u8; 16]>> = HashMap::new();
    for d in &due {
        match &d.target {
            Target::Mapping {
                domain,
                pseudonym,
                subject,
                record,
            } => {
                let current = app.store.mapping(domain.id, pseudonym).await?;
                if current.as_ref() != Some(record) {
                    continue;
                }
                let blind = if domain.scheme.allocates() {
                    if let std::collections::hash_map::Entry::Vacant(slot) = blinds.entry(domain.id)
                    {
                        let map = app
                            .store
                            .blind_entries(domain.id)
                            .await?
                            .into_iter()
                            .map(|(b, p)| (p, b))
                            .collect();
                        slot.insert(map);
                    }
                    blinds
                        .get(&domain.id)
                        .and_then(|m| m.get(pseudonym))
                        .copied()
                } else {
                    None
                };
                app.store
                    .delete_mapping(domain.id, pseudonym, blind)
                    .await?;
                reaped.mappings += 1;
                events.push(subject_events::event(
                    now,
                    subject_events::kind::ERASED,
                    &hex::encode(subject),
                    "",
                    &domain.name,
                    &Pseudonym(pseudonym.clone()).declassify(domain.scheme),
                ));
            }
            Target::Evidence { receipt_id, .. } => {
                if app.store.delete_evidence(tenant_id, receipt_id).await? {
                    reaped.evidence += 1;
                }
            }
        }
        job.done += 1;
    }
    subject_events::emit(app, tenant_id, events).await?;
    if reaped.mappings + reaped.evidence > 0 {
        app.store.request_compaction().await?;
    }
    job.state = JobState::Done;
    job.finished_ms = app.now_ms();
    app.store.put_job(&job).await?;
    let mut entry = audit::entry(job.finished_ms, started_by, "retention.reap.done");
    entry.counts = vec![
        ("job".into(), job.id),
        ("mappings".into(), reaped.mappings),
        ("evidence".into(), reaped.evidence),
    ];
    app.audit.record(tenant_id, entry).await?;
    Ok(reaped)
}

/// `RunRetention` (tenant-admin): reaps now.
pub async fn run_now(app: &Arc<App>, caller: &Caller) -> VaultResult<Reaped> {
    let tenant_id = caller.tenant_with(Role::TenantAdmin)?;
    reap(app, tenant_id, caller.id()).await
}

/// A retention run that a crash cut off (job still `running`) is simply run again: the plan
/// is recomputed from what is stored, so nothing is deleted twice or missed.
pub async fn resume(app: &App, job: &JobRecord) -> VaultResult<()> {
    let mut job = job.clone();
    job.state = JobState::Failed;
    job.error = "cut off by a restart; run again".into();
    job.finished_ms = app.now_ms();
    app.store.put_job(&job).await?;
    reap(app, job.tenant_id, "valv").await.map(drop)
}

/// Moves a used mapping's expiry forward in domains whose retention counts from the last use.
/// Writes at most once per tenth of the retention period (and at most daily), so use does
/// not turn every read into a write.
///
/// A reversible mapping's ciphertext is bound to its expiry (`engine::mapping_bound`), so the
/// move re-seals the identifier under the active key version — counted against its use budget,
/// under the tenant's gate like any encryption — and stores both in one compare-and-swap.
pub async fn touch(
    app: &App,
    domain: &DomainRecord,
    used: Vec<(Vec<u8>, MappingRecord)>,
) -> VaultResult<()> {
    if !domain.retention_since_last_use || domain.retention_seconds == 0 {
        return Ok(());
    }
    let retention_ms =
        i64::try_from(domain.retention_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let step = (retention_ms / 10).clamp(1, 86_400_000);
    let fresh = app.now_ms().saturating_add(retention_ms);
    let due: Vec<_> = used
        .into_iter()
        .filter(|(_, record)| fresh - record.expires_ms >= step)
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    // A concurrent change (a re-encryption, another node's move) wins each compare-and-swap;
    // the next use moves the expiry then.
    if !domain.reversible {
        for (pseudonym, record) in due {
            app.store
                .set_expiry(domain.id, &pseudonym, &record, fresh, None)
                .await?;
        }
        return Ok(());
    }
    let tenant_id = domain.tenant_id;
    let fence = app.fence(tenant_id);
    let gate = app.keys.gate(tenant_id);
    let shared = gate.read().await;
    let data_key = app.keys.domain_keys(domain).await?.data_key.clone();
    let mut fence = fence.sealed_under(data_key.version());
    let count = due.len() as u64;
    if !app
        .keys
        .reserve_encryptions(tenant_id, data_key.version(), count)
        .await?
    {
        // The next new identifier rotates the spent version; until then expiries stay put.
        tracing::warn!(
            tenant = tenant_id,
            "key version use budget spent: expiries not moved"
        );
        return Ok(());
    }
    let mut data_keys = app.keys.domain_data_keys(domain).await?;
    let mut moved = Vec::new();
    for (pseudonym, record) in due {
        // `None`: under a destroyed key version, nothing left to keep.
        let opened = app
            .open_mapping(&mut data_keys, domain, &pseudonym, &record)
            .await?;
        let Some(plain) = opened else { continue };
        let row = Governing {
            subject: &record.subject,
            epoch: record.epoch,
            expires_ms: fresh,
        };
        let ciphertext = seal_mapping(
            &data_key,
            (tenant_id, domain.id),
            &pseudonym,
            row,
            plain.expose_secret(),
        )?;
        if app
            .store
            .set_expiry(domain.id, &pseudonym, &record, fresh, Some(ciphertext))
            .await?
        {
            moved.push((pseudonym, plain));
        }
    }
    drop(shared);
    if !moved.is_empty() {
        while fence.check().await?.is_some() {
            let sealed: Vec<(&[u8], &[u8])> = moved
                .iter()
                .map(|(p, plain)| (p.as_slice(), plain.expose_secret()))
                .collect();
            app.reseal_mappings(domain, &sealed).await?;
        }
    }
    Ok(())
}

/// Lets the job sweeper resume a retention run that a crash (or a dead node) cut off.
pub fn register() {
    crate::jobs::register_resumer(JobKind::Retention, |app, job| {
        Box::pin(async move {
            if let Err(e) = resume(&app, &job).await {
                tracing::warn!(job = job.id, error = %e, "resumed retention run failed");
            }
        })
    });
}

/// How long a retention run holds its job's lease.
const RETENTION_LEASE_MS: i64 = 3_600_000;

/// The retention schedule: a reaper run for every tenant every `every`; with several processes
/// on one store, one of them runs each tenant's period (see `jobs::schedule`).
pub fn schedule(every: std::time::Duration) -> crate::jobs::schedule::Schedule {
    crate::jobs::schedule::Schedule {
        name: "retention",
        every,
        one_process_per_period: true,
        work: |app, tenant_id| {
            Box::pin(async move {
                let r = reap(&app, tenant_id, "valv").await?;
                if r.mappings + r.evidence > 0 {
                    tracing::info!(
                        tenant = tenant_id,
                        mappings = r.mappings,
                        evidence = r.evidence,
                        "retention run deleted"
                    );
                }
                Ok(())
            })
        },
    }
}

/// Errors for a plan horizon in the past.
pub fn check_until(until_ms: i64) -> VaultResult<()> {
    if until_ms < 0 {
        return Err(VaultError::invalid("until_unix_ms", "must not be negative"));
    }
    Ok(())
}
