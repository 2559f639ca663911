//! The re-encryption job of a tenant-key rotation: walks every reversible mapping of the tenant,
//! domain by domain in key order, and moves each ciphertext that is not yet under the target
//! version to it (decrypt with the old version, encrypt with the new one). A page of moves, the
//! resume point after it and the count of records moved are one unit of work in the store
//! ([`crate::store::JobStore::commit_rotation_page`]), each move a compare-and-swap so a concurrent change is
//! never overwritten; then one flush. At the end, older versions are retired and their material
//! erased, under the tenant's exclusive gate so no request is halfway through with them.
//!
//! Counting: `total` is what was under other versions when the job began; `done` counts the
//! records this job moved, each once — a crash keeps a page's moves together with the progress
//! that counts them, or neither, so a record found under the target version on resume was
//! counted already (or was never the job's: created since, or sealed again by a request's fence).
//! `done` falls short of `total` by exactly the records that left the old version otherwise
//! (erased, expired, or sealed again by a request) before the job reached them.
//!
//! Retiring: a move lost to a concurrent change (retention moving an expiry) is retried on the
//! fresh row; before retiring, the job counts what is still under older versions whose material
//! exists and walks again (up to `PASSES` times) rather than retire a version that still has
//! records.

use std::{sync::Arc, time::Instant};

use valv_kms::{AadContext, envelope::ciphertext_version};

use crate::{
    app::{App, keys::seal_mapping},
    audit,
    error::{VaultError, VaultResult},
    keys::{EVIDENCE_DOMAIN_ID, census::records_by_version},
    store::{
        EvidenceMove, MappingMove, RotationPage,
        records::{DomainRecord, JobRecord, JobState, MappingRecord},
    },
};

/// Records per page (one durable flush and one saved resume point each).
const PAGE: usize = 500;
/// Walks over the tenant's records before the job gives up on retiring the old versions.
const PASSES: u32 = 3;
/// Attempts to move one record while concurrent changes keep winning.
const SWAP_ATTEMPTS: usize = 5;

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
        if matches!(e, VaultError::Unavailable(_)) {
            // Not a failure either: the store (a database out of reach, a full disk) keeps the
            // job running; the sweeper resumes it from its last saved page once its lease ran
            // out and the store answers again.
            tracing::warn!(job = job.id, error = %e, "key rotation job paused: the store is unavailable");
            return;
        }
        tracing::error!(job = job.id, error = %e, "key rotation job failed");
        job.state = JobState::Failed;
        job.error = e.to_string();
        job.finished_ms = app.now_ms();
        if !matches!(e, VaultError::Aborted(_)) {
            let _ = app.store.save_job(&job).await;
            let _ = app.store.sync().await;
        }
    }
    app.metrics.job_progress(&job);
}

/// Saves the job's progress and renews its lease; `Aborted` when another process took the job
/// over (this one must stop).
async fn save(app: &App, job: &mut JobRecord) -> VaultResult<()> {
    job.lease_until_ms = app.now_ms().saturating_add(app.limits.job_lease_ms());
    if !app.store.save_job(job).await? {
        tracing::info!(
            job = job.id,
            "job taken over by another process; stopping here"
        );
        return Err(VaultError::Aborted(
            "job taken over by another process".into(),
        ));
    }
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("job progress could not be made durable: {e}"))
    })?;
    app.metrics.job_progress(job);
    Ok(())
}

/// Commits a page (its moves, the job's cursor and count, a renewed lease) and makes it durable:
/// which moves were made. `Aborted` when another process took the job over.
async fn commit(app: &App, job: &mut JobRecord, page: RotationPage) -> VaultResult<Vec<bool>> {
    job.lease_until_ms = app.now_ms().saturating_add(app.limits.job_lease_ms());
    let Some(made) = app.store.commit_rotation_page(job, page).await? else {
        tracing::info!(
            job = job.id,
            "job taken over by another process; stopping here"
        );
        return Err(VaultError::Aborted(
            "job taken over by another process".into(),
        ));
    };
    job.done += made.iter().filter(|m| **m).count() as u64;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("job progress could not be made durable: {e}"))
    })?;
    app.metrics.job_progress(job);
    Ok(made)
}

/// Counts `n` encryptions under the target version against its use budget (before they are
/// stored, so a crash cannot leave them uncounted).
async fn reserve(app: &App, job: &JobRecord, n: usize) -> VaultResult<()> {
    if n > 0
        && !app
            .keys
            .reserve_encryptions(job.tenant_id, job.target_version, n as u64)
            .await?
    {
        tracing::warn!(job = job.id, "rotation passed the new version's use budget");
    }
    Ok(())
}

/// Moves one page of a domain's records (those not under the target version), retrying the
/// moves lost to a concurrent change on the fresh rows; the first commit also saves the cursor.
async fn move_page(
    app: &App,
    job: &mut JobRecord,
    domain: &DomainRecord,
    page: Vec<(Vec<u8>, MappingRecord)>,
) -> VaultResult<()> {
    let target = job.target_version;
    let mut keys = app.keys.domain_data_keys(domain).await?;
    let target_key = keys
        .get(target)?
        .cloned()
        .ok_or_else(|| VaultError::Internal(format!("key version {target} is gone")))?;
    let mut pending = page;
    for attempt in 0..SWAP_ATTEMPTS {
        let mut moves = Vec::with_capacity(pending.len());
        for (pseudonym, row) in pending {
            let Some(ct) = &row.ciphertext else { continue };
            if ciphertext_version(ct)? == target {
                continue;
            }
            // A record under a destroyed version cannot be moved: it is gone for good. Each
            // attempt seals the row as it is now (a concurrent expiry move changes the bound
            // fields), in the current layout of `engine::mapping_bound`.
            let Some(plain) = keys.open(&pseudonym, &row)? else {
                continue;
            };
            let ciphertext = seal_mapping(
                &target_key,
                (job.tenant_id, domain.id),
                &pseudonym,
                (&row).into(),
                plain.expose_secret(),
            )?;
            moves.push(MappingMove {
                pseudonym,
                current: row,
                ciphertext,
            });
        }
        if moves.is_empty() && attempt > 0 {
            return Ok(());
        }
        reserve(app, job, moves.len()).await?;
        let tried: Vec<Vec<u8>> = moves.iter().map(|m| m.pseudonym.clone()).collect();
        let page = RotationPage::Mappings {
            domain_id: domain.id,
            moves,
        };
        let made = commit(app, job, page).await?;
        let lost: Vec<Vec<u8>> = tried
            .into_iter()
            .zip(made)
            .filter(|(_, made)| !made)
            .map(|(p, _)| p)
            .collect();
        if lost.is_empty() {
            return Ok(());
        }
        let fresh = app.store.mappings(domain.id, lost.clone()).await?;
        // Deleted meanwhile: nothing to move.
        pending = lost
            .into_iter()
            .zip(fresh)
            .filter_map(|(p, row)| row.map(|r| (p, r)))
            .collect();
    }
    // Still changing: left for the recount before retiring, which walks again.
    if !pending.is_empty() {
        tracing::debug!(
            domain = domain.id,
            records = pending.len(),
            "records kept changing during their re-encryption"
        );
    }
    Ok(())
}

/// One pass over every reversible mapping and the evidence, from the job's cursor.
async fn walk(app: &App, job: &mut JobRecord) -> VaultResult<()> {
    let tenant_id = job.tenant_id;
    let target = job.target_version;
    let mut domains = app.domains(tenant_id).await?;
    domains.sort_by_key(|d| d.id);
    if job.pass == 0 && job.done == 0 && job.cursor_domain == 0 && job.cursor_after_hex.is_empty() {
        job.total = records_by_version(app.store.as_ref(), tenant_id)
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
        move_page(app, job, domain, page).await?;
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
    Ok(())
}

/// Records still under older versions whose material exists (so they could be moved).
async fn left_behind(app: &App, tenant_id: u64, target: u32) -> VaultResult<u64> {
    let movable: Vec<u32> = app
        .keys
        .tenant_keys(tenant_id)
        .await?
        .versions()
        .into_iter()
        .filter(|(v, state, _)| {
            *v != target
                && matches!(
                    state,
                    valv_kms::KeyState::Active | valv_kms::KeyState::DecryptOnly
                )
        })
        .map(|(v, _, _)| v)
        .collect();
    Ok(records_by_version(app.store.as_ref(), tenant_id)
        .await?
        .into_iter()
        .filter(|(v, _)| movable.contains(v))
        .map(|(_, n)| n)
        .sum())
}

async fn run_inner(app: &App, job: &mut JobRecord) -> VaultResult<()> {
    let tenant_id = job.tenant_id;
    let target = job.target_version;
    loop {
        walk(app, job).await?;
        let left = left_behind(app, tenant_id, target).await?;
        if left == 0 {
            break;
        }
        if job.pass + 1 >= PASSES {
            return Err(VaultError::Internal(format!(
                "{left} records are still under older key versions after {PASSES} passes; \
                 the versions were not retired"
            )));
        }
        tracing::info!(
            job = job.id,
            left,
            "records left under older versions; walking again"
        );
        job.pass += 1;
        job.cursor_domain = 0;
        job.cursor_after_hex.clear();
        save(app, job).await?;
    }

    // Nothing is stored under older versions any more: retire them and erase their material.
    let gate = app.keys.gate(tenant_id);
    let exclusive = gate.write().await;
    let mut keys = app.keys.load_tenant_keys(tenant_id).await?;
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
    // Another node may change the ring meanwhile (an epoch, another version): read it again and
    // retire the same versions in it.
    let mut attempt = 0;
    while let Err(e) = app.keys.install_tenant_keys(keys).await {
        attempt += 1;
        if !matches!(e, VaultError::Aborted(_)) || attempt >= 5 {
            return Err(e);
        }
        keys = app.keys.load_tenant_keys(tenant_id).await?;
        keys.retire_before(target);
    }
    job.state = JobState::Done;
    job.finished_ms = now;
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
        let keys = app.keys.tenant_keys(tenant_id).await?;
        let target_key = keys.data_key(EVIDENCE_DOMAIN_ID, target)?;
        let mut moves = Vec::with_capacity(page.len());
        for (id, current) in page {
            let version = ciphertext_version(&current)?;
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
                record: &id,
                bound: b"",
            };
            let plain = old_key.open(&ctx, &current)?;
            let ciphertext = target_key.seal(&ctx, plain.expose_secret())?;
            moves.push(EvidenceMove {
                id,
                current,
                ciphertext,
            });
        }
        // A move lost here lost to a request sealing the record again under the active
        // version: nothing left to do for it.
        reserve(app, job, moves.len()).await?;
        commit(app, job, RotationPage::Evidence { tenant_id, moves }).await?;
    }
}
