//! Key lifecycle for the tenant's `key-officer`: list key versions, rotate the tenant key (a
//! background job moves every record), read jobs. Nothing here returns an identifier or a
//! pseudonym.

use std::{collections::HashMap, sync::Arc};

use valv_kms::{KeyState, KeyVersion, envelope::ciphertext_version};

use crate::{
    app::App,
    audit,
    authz::Caller,
    error::{VaultError, VaultResult},
    jobs,
    store::records::{JobRecord, Role},
};

/// Kind name of the rotation job.
pub const ROTATE_TENANT_KEY: &str = "rotate-tenant-key";

/// One version as `ListKeyVersions` shows it.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// Version number.
    pub version: KeyVersion,
    /// State.
    pub state: KeyState,
    /// Creation time.
    pub created_ms: i64,
    /// Stored ciphertexts under it.
    pub records: u64,
    /// Encryptions made under it.
    pub encryptions: u64,
}

/// Stored ciphertexts of a tenant per key version (walks every reversible mapping).
pub async fn records_by_version(
    app: &App,
    tenant_id: u64,
) -> VaultResult<HashMap<KeyVersion, u64>> {
    let mut counts = HashMap::new();
    for domain in app.store.list_domains(tenant_id).await? {
        if !domain.reversible {
            continue;
        }
        let mut after = Vec::new();
        loop {
            let page = app.store.scan_mappings(domain.id, after, 2_000).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (_, m) in &page {
                if let Some(ct) = &m.ciphertext {
                    *counts.entry(ciphertext_version(ct)?).or_insert(0) += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Every encryption key version of the caller's tenant.
pub async fn list_versions(app: &App, caller: &Caller) -> VaultResult<Vec<VersionInfo>> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let keys = app.tenant_keys(tenant_id).await?;
    let records = records_by_version(app, tenant_id).await?;
    let mut out = Vec::new();
    for (version, state, created_ms) in keys.versions() {
        out.push(VersionInfo {
            version,
            state,
            created_ms,
            records: records.get(&version).copied().unwrap_or(0),
            encryptions: app.encryptions(tenant_id, version).await?,
        });
    }
    Ok(out)
}

/// The running rotation job of a tenant, if any.
pub async fn running_rotation(app: &App, tenant_id: u64) -> VaultResult<Option<JobRecord>> {
    Ok(app.store.jobs().await?.into_iter().find(|j| {
        j.tenant_id == tenant_id && j.kind == ROTATE_TENANT_KEY && j.state == jobs::RUNNING
    }))
}

/// Rotates the tenant key: a new active version at once, and a job that moves every record to
/// it. `principal`/`request_id` name who asked (the vault itself when the use budget ran out).
pub async fn rotate(
    app: &Arc<App>,
    tenant_id: u64,
    principal: &str,
    request_id: &str,
) -> VaultResult<(KeyVersion, u64)> {
    let gate = app.gate(tenant_id);
    let exclusive = gate.write().await;
    if let Some(job) = running_rotation(app, tenant_id).await? {
        return Err(VaultError::FailedPrecondition(format!(
            "a key rotation is running (job {}); wait for it to end",
            job.id
        )));
    }
    let mut keys = app.load_tenant_keys(tenant_id).await?;
    let previous = keys.active_version().unwrap_or(0);
    let now = app.now_ms();
    let version = keys.rotate(now);
    let job = JobRecord {
        id: app.store.next_id().await?,
        tenant_id,
        kind: ROTATE_TENANT_KEY.into(),
        state: jobs::RUNNING.into(),
        target_version: version,
        done: 0,
        total: 0,
        started_ms: now,
        finished_ms: 0,
        cursor_domain: 0,
        cursor_after_hex: String::new(),
        error: String::new(),
        started_by: principal.to_owned(),
    };
    // Fail closed: the audit entry goes first; the key ring's durable write covers both.
    let mut entry = audit::entry(now, principal, "key.rotate");
    entry.request_id = request_id.to_owned();
    entry.counts = vec![
        ("from_version".into(), u64::from(previous)),
        ("to_version".into(), u64::from(version)),
        ("job".into(), job.id),
    ];
    app.audit.append(tenant_id, entry).await?;
    app.store.put_job(&job).await?;
    app.install_tenant_keys(keys).await?;
    drop(exclusive);
    tracing::info!(
        tenant = tenant_id,
        version,
        job = job.id,
        "tenant key rotated; re-encryption job started"
    );
    let id = job.id;
    jobs::spawn(Arc::clone(app), job);
    Ok((version, id))
}

/// `RotateTenantKey` for a key officer.
pub async fn rotate_for(app: &Arc<App>, caller: &Caller) -> VaultResult<(KeyVersion, u64)> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    rotate(app, tenant_id, caller.id(), &caller.request_id).await
}

/// A job of the caller's tenant.
pub async fn job(app: &App, caller: &Caller, id: u64) -> VaultResult<JobRecord> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    app.store
        .job(id)
        .await?
        .filter(|j| j.tenant_id == tenant_id)
        .ok_or_else(|| VaultError::NotFound("job: no such job in this tenant".into()))
}

/// The caller's tenant's jobs, newest first.
pub async fn list_jobs(app: &App, caller: &Caller) -> VaultResult<Vec<JobRecord>> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let mut jobs: Vec<JobRecord> = app
        .store
        .jobs()
        .await?
        .into_iter()
        .filter(|j| j.tenant_id == tenant_id)
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.id));
    Ok(jobs)
}
