//! Key lifecycle for the tenant's `key-officer`: list key versions, rotate the tenant key (a
//! background job moves every record), read jobs. Nothing here returns an identifier or a
//! pseudonym.

use std::sync::Arc;

use valv_kms::{KeyState, KeyVersion};

use crate::model::records::{JobKind, JobState};
use crate::{
    app::App,
    audit,
    authz::Caller,
    error::{VaultError, VaultResult},
    jobs,
    store::records::{JobRecord, PendingOpRecord, Role},
};

pub use crate::keys::census::records_by_version;

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

/// Every encryption key version of the caller's tenant.
pub async fn list_versions(app: &App, caller: &Caller) -> VaultResult<Vec<VersionInfo>> {
    versions_of(app, caller.tenant_with(Role::KeyOfficer)?).await
}

/// Every encryption key version of a tenant, with its counts (no role check: for use cases
/// that checked theirs).
pub async fn versions_of(app: &App, tenant_id: u64) -> VaultResult<Vec<VersionInfo>> {
    let keys = app.keys.tenant_keys(tenant_id).await?;
    let records = records_by_version(app.store.as_ref(), tenant_id).await?;
    let mut out = Vec::new();
    for (version, state, created_ms) in keys.versions() {
        out.push(VersionInfo {
            version,
            state,
            created_ms,
            records: records.get(&version).copied().unwrap_or(0),
            encryptions: app.keys.encryptions(tenant_id, version).await?,
        });
    }
    Ok(out)
}

/// The running rotation job of a tenant, if any.
pub async fn running_rotation(app: &App, tenant_id: u64) -> VaultResult<Option<JobRecord>> {
    Ok(app.store.jobs().await?.into_iter().find(|j| {
        j.tenant_id == tenant_id
            && j.kind == JobKind::RotateTenantKey
            && j.state == JobState::Running
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
    let gate = app.keys.gate(tenant_id);
    let exclusive = gate.write().await;
    if let Some(job) = running_rotation(app, tenant_id).await? {
        return Err(VaultError::FailedPrecondition(format!(
            "a key rotation is running (job {}); wait for it to end",
            job.id
        )));
    }
    let mut keys = app.keys.load_tenant_keys(tenant_id).await?;
    let previous = keys.active_version().unwrap_or(0);
    let now = app.now_ms();
    let version = keys.rotate(now);
    let job = JobRecord {
        id: app.store.next_id().await?,
        tenant_id,
        kind: JobKind::RotateTenantKey,
        state: JobState::Running,
        target_version: version,
        done: 0,
        total: 0,
        started_ms: now,
        finished_ms: 0,
        cursor_domain: 0,
        cursor_after_hex: String::new(),
        error: String::new(),
        started_by: principal.to_owned(),
        ..JobRecord::default()
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
    // The new version exists only once the key ring's compare-and-swap won; the job is stored
    // after it, so a node that lost the race leaves no job behind (a crash in between leaves a
    // new version without a job: records stay readable, and the next rotation moves them).
    if let Err(e) = app.keys.install_tenant_keys(keys).await {
        if matches!(e, VaultError::Aborted(_)) {
            let mut undone = audit::entry(app.now_ms(), principal, "key.rotate.abandoned");
            undone.request_id = request_id.to_owned();
            undone.counts = vec![("job".into(), job.id)];
            undone.verdict = Some("another node changed the key ring first".into());
            app.audit.append(tenant_id, undone).await?;
        }
        return Err(e);
    }
    app.store.put_job(&job).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("rotation job could not be made durable: {e}"))
    })?;
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

/// Records under `version`, per domain name (only domains that have some).
pub async fn records_under(
    app: &App,
    tenant_id: u64,
    version: KeyVersion,
) -> VaultResult<Vec<(String, u64)>> {
    Ok(crate::keys::census::census(app.store.as_ref(), tenant_id)
        .await?
        .into_iter()
        .filter_map(|(domain, counts)| counts.get(&version).map(|n| (domain, *n)))
        .collect())
}

/// `DestroyKeyVersion`: checks, then runs or files the destruction (two-person rule). Returns
/// the outcome and the records still under the version.
pub async fn destroy(
    app: &Arc<App>,
    caller: &Caller,
    version: KeyVersion,
    force: bool,
) -> VaultResult<(super::approval::Outcome, Vec<(String, u64)>)> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let keys = app.keys.tenant_keys(tenant_id).await?;
    let state = keys
        .versions()
        .into_iter()
        .find(|(v, _, _)| *v == version)
        .map(|(_, s, _)| s)
        .ok_or_else(|| VaultError::NotFound("version: no such key version".into()))?;
    match state {
        KeyState::Active => {
            return Err(VaultError::FailedPrecondition(
                "version: the active version cannot be destroyed; rotate first".into(),
            ));
        }
        KeyState::Retired | KeyState::Destroyed => {
            return Err(VaultError::FailedPrecondition(
                "version: its material is already erased".into(),
            ));
        }
        KeyState::DecryptOnly => {}
    }
    let remaining = records_under(app, tenant_id, version).await?;
    if !remaining.is_empty() && !force {
        let list: Vec<String> = remaining
            .iter()
            .map(|(d, n)| format!("{d}: {n} records"))
            .collect();
        return Err(VaultError::FailedPrecondition(format!(
            "version: records are still under it ({}); let the rotation job move them, or force",
            list.join(", ")
        )));
    }
    let op = destruction(tenant_id, version, force, caller.id());
    let outcome = match super::approval::file(app, caller, op.clone()).await? {
        Some(pending) => pending,
        None => {
            destroy_now(app, &op, caller.id(), None, &caller.request_id).await?;
            super::approval::Outcome::Done(super::approval::summary(&op))
        }
    };
    Ok((outcome, remaining))
}

/// The pending-operation record of a destruction.
fn destruction(
    tenant_id: u64,
    version: KeyVersion,
    force: bool,
    requested_by: &str,
) -> PendingOpRecord {
    PendingOpRecord {
        id: 0,
        tenant_id,
        kind: super::approval::DESTROY_KEY_VERSION.into(),
        version,
        force,
        requested_by: requested_by.to_owned(),
        requested_ms: 0,
        expires_ms: 0,
        state: String::new(),
        approved_by: String::new(),
        target_tenant: 0,
        ..Default::default()
    }
}

/// Destroys the version now (after any approval): under the tenant's exclusive gate, audit
/// first, then the key ring without the version's material.
pub async fn destroy_now(
    app: &Arc<App>,
    op: &PendingOpRecord,
    requested_by: &str,
    approved_by: Option<&str>,
    request_id: &str,
) -> VaultResult<()> {
    let gate = app.keys.gate(op.tenant_id);
    let exclusive = gate.write().await;
    let mut keys = app.keys.load_tenant_keys(op.tenant_id).await?;
    keys.destroy(op.version)?;
    let lost: u64 = records_under(app, op.tenant_id, op.version)
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    let mut entry = audit::entry(app.now_ms(), requested_by, "key.destroy");
    entry.request_id = request_id.to_owned();
    entry.counts = vec![
        ("version".into(), u64::from(op.version)),
        ("records_lost".into(), lost),
    ];
    entry.items = vec![(format!("key-version:{}", op.version), "destroyed".into())];
    if let Some(approver) = approved_by {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    app.audit.append(op.tenant_id, entry).await?;
    app.keys.install_tenant_keys(keys).await?;
    drop(exclusive);
    tracing::warn!(
        tenant = op.tenant_id,
        version = op.version,
        lost,
        "key version destroyed"
    );
    Ok(())
}
