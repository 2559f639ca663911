//! The re-encryption job of a tenant-key rotation: walks every reversible mapping of the tenant,
//! domain by domain in key order, and moves each ciphertext that is not yet under the target
//! version to it (decrypt with the old version, encrypt with the new one, compare-and-swap so a
//! concurrent change is never overwritten). After every page the resume point is saved with the
//! records it covers (one flush). At the end, older versions are retired and their material
//! erased, under the tenant's exclusive gate so no request is halfway through with them.

use std::{sync::Arc, time::Instant};

use valv_kms::{AadContext, envelope::ciphertext_version};

use super::{DONE, FAILED};
use crate::{
    app::App,
    audit,
    error::{VaultError, VaultResult},
    ops::{consent::EVIDENCE_DOMAIN_ID, keys::records_by_version},
    store::records::JobRecord,
};

/// Records per page (one durable flush and one saved resume point each).
const PAGE: usize = 500;

/// Runs the job to its end and records how it ended.
pub async fn run(app: Arc<App>, mut job: JobRecord) {
    if let Err(e) = run_inner(&app, &mut job).await {
        if app.is_sealed() {
            // Not a failure: the job stays running and resumes at the next unseal.
            tracing::info!(
                job = job.id,
                "key rotation job paused: the vault was sealed"
            );
            return;
        }
        tracing::error!(job = job.id, error = %e, "key rotation job failed");
        job.state = FAILED.into();
        job.error = e.to_string();
        job.finished_ms = app.now_ms();
        let _ = app.store.put_job(&job).await;
        let _ = app.store.sync().await;
    }
    app.metrics.job_progress(&job);
}

async fn save(app: &App, job: &JobRecord) -> VaultResult<()> {
    app.store.put_job(job).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("job progress could not be made durable: {e}"))
    })?;
    app.metrics.job_progress(job);
    Ok(())
}

async fn run_inner(app: &App, job: &mut JobRecord) -> VaultResult<()> {
    let tenant_id = job.tenant_id;
    let target = job.target_version;
    let mut domains = app.store.list_domains(tenant_id).await?;
    domains.sort_by_key(|d| d.id);
    if job.done == 0 && job.cursor_domain == 0 && job.cursor_after_hex.is_empty() {
        job.total = records_by_version(app, tenant_id)
            .await?
            .into_iter()
            .filter(|(v, _)| *v != target)
            .map(|(_, n)| n)
            .sum();
        save(app, job).await?;
    }
    let started = Instant::now();
    let done_at_start = job.done;
    let rate = app.limits.rotation_records_per_second;
    while let Some(domain) = domains.get(job.cursor_domain) {
        if app.is_sealed() {
            return Err(VaultError::FailedPrecondition(
                "the vault was sealed".into(),
            ));
        }
        if !domain.reversible {
            job.cursor_domain += 1;
            job.cursor_after_hex.clear();
            continue;
        }
        let after = hex::decode(&job.cursor_after_hex)
            .map_err(|_| VaultError::Internal("job cursor is not hex".into()))?;
        let page = app.store.scan_mappings(domain.id, after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            job.cursor_domain += 1;
            job.cursor_after_hex.clear();
            save(app, job).await?;
            continue;
        };
        job.cursor_after_hex = hex::encode(last);
        let mut keys = app.domain_data_keys(domain).await?;
        let target_key = keys
            .get(target)?
            .cloned()
            .ok_or_else(|| VaultError::Internal(format!("key version {target} is gone")))?;
        let mut moved = 0u64;
        for (pseudonym, record) in &page {
            let Some(ct) = &record.ciphertext else {
                continue;
            };
            let version = ciphertext_version(ct)?;
            if version == target {
                continue;
            }
            let ctx = AadContext {
                tenant_id,
                domain_id: domain.id,
                record: pseudonym,
            };
            // A record under a destroyed version cannot be moved: it is gone for good.
            let Some(old_key) = keys.get(version)? else {
                continue;
            };
            let plain = old_key.open(&ctx, ct)?;
            let fresh = target_key.seal(&ctx, plain.expose_secret())?;
            // A record that changed meanwhile (or was deleted) is left alone: whoever changed it
            // wrote it under the active version already.
            app.store
                .replace_ciphertext(domain.id, pseudonym, record, fresh)
                .await?;
            moved += 1;
        }
        if moved > 0 && !app.reserve_encryptions(tenant_id, target, moved).await? {
            tracing::warn!(job = job.id, "rotation passed the new version's use budget");
        }
        job.done += moved;
        save(app, job).await?;
        if rate > 0 {
            let due = (job.done - done_at_start) as f64 / rate as f64;
            let ahead = due - started.elapsed().as_secs_f64();
            if ahead > 0.0 {
                tokio::time::sleep(std::time::Duration::from_secs_f64(ahead)).await;
            }
        }
    }

    // Consent evidence comes after every domain (cursor one past the last domain).
    if job.cursor_domain == domains.len() {
        move_evidence(app, job).await?;
    }

    // Nothing is stored under older versions any more: retire them and erase their material.
    let gate = app.gate(tenant_id);
    let exclusive = gate.write().await;
    let mut keys = app.load_tenant_keys(tenant_id).await?;
    let retired = keys.retire_before(target);
    let now = app.now_ms();
    let mut entry = audit::entry(now, &job.started_by, "key.rotate.done");
    entry.counts = vec![
        ("job".into(), job.id),
        ("to_version".into(), u64::from(target)),
        ("records".into(), job.done),
    ];
    entry.items = retired
        .iter()
        .map(|v| (format!("key-version:{v}"), "retired".to_owned()))
        .collect();
    app.audit.append(tenant_id, entry).await?;
    app.install_tenant_keys(keys).await?;
    job.state = DONE.into();
    job.finished_ms = now;
    job.total = job.total.max(job.done);
    save(app, job).await?;
    drop(exclusive);
    tracing::info!(
        job = job.id,
        records = job.done,
        ?retired,
        "key rotation finished"
    );
    Ok(())
}

/// Re-encrypts the tenant's consent evidence under the job's target version, a page at a time
/// (resumable like the mappings).
async fn move_evidence(app: &App, job: &mut JobRecord) -> VaultResult<()> {
    let tenant_id = job.tenant_id;
    let target = job.target_version;
    loop {
        if app.is_sealed() {
            return Err(VaultError::FailedPrecondition(
                "the vault was sealed".into(),
            ));
        }
        let after = hex::decode(&job.cursor_after_hex)
            .map_err(|_| VaultError::Internal("job cursor is not hex".into()))?;
        let page = app.store.scan_evidence(tenant_id, after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            job.cursor_domain += 1;
            job.cursor_after_hex.clear();
            return save(app, job).await;
        };
        job.cursor_after_hex = hex::encode(last);
        let keys = app.tenant_keys(tenant_id).await?;
        let target_key = keys.data_key(EVIDENCE_DOMAIN_ID, target)?;
        let mut moved = 0u64;
        for (id, ct) in &page {
            let version = ciphertext_version(ct)?;
            if version == target {
                continue;
            }
            // Under a destroyed version: gone for good.
            let Ok(old_key) = keys.data_key(EVIDENCE_DOMAIN_ID, version) else {
                continue;
            };
            let ctx = AadContext {
                tenant_id,
                domain_id: EVIDENCE_DOMAIN_ID,
                record: id,
            };
            let plain = old_key.open(&ctx, ct)?;
            let fresh = target_key.seal(&ctx, plain.expose_secret())?;
            if app.store.replace_evidence(tenant_id, id, ct, fresh).await? {
                moved += 1;
            }
        }
        if moved > 0 && !app.reserve_encryptions(tenant_id, target, moved).await? {
            tracing::warn!(job = job.id, "rotation passed the new version's use budget");
        }
        job.done += moved;
        save(app, job).await?;
    }
}
