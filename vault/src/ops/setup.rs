//! Finishing the set-up of a vault once its root key is in memory (at start, or at the first
//! unseal of a sealed vault): a root-key rotation a crash cut off, the operator chain's key ring,
//! and on an empty store the first operator.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use valv_kms::TenantKeys;

use crate::{
    app::App, audit::OPERATOR_CHAIN, ops::principals::new_principal, store::records::Role,
};

/// Where the first operator token is written (mode 0600) on first start.
pub fn operator_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token")
}

/// What needs the root key at start: finishing a root-key rotation a crash cut off, the
/// operator chain's key ring and, on an empty store, the first operator. Runs at start, or at
/// the first unseal of a sealed vault.
pub async fn after_unseal(app: &App, data_dir: &Path) -> anyhow::Result<()> {
    // A root-key rotation cut off by a crash is finished before anything else.
    crate::ops::root::finish_interrupted(app).await?;
    ensure_operator_chain_keys(app).await?;
    ensure_operator(app, data_dir).await?;
    seal_rows_of_earlier_versions(app).await?;
    seal_subject_rows_of_earlier_versions(app).await?;
    Ok(())
}

/// Set once every consent event, restriction and tombstone carries a MAC.
const SUBJECT_ROWS_SEALED: &str = "integrity/subject-rows-v1";

/// Consent events, restrictions and tombstones written by a version before they carried a MAC
/// are sealed once, like the registry rows (and after that, one without a MAC is refused like
/// a wrong one).
async fn seal_subject_rows_of_earlier_versions(app: &App) -> anyhow::Result<()> {
    if app
        .store
        .marks(SUBJECT_ROWS_SEALED)
        .await?
        .iter()
        .any(|m| m == SUBJECT_ROWS_SEALED)
    {
        return Ok(());
    }
    let mut sealed = 0u64;
    for tenant in app.store.tenants().await? {
        if tenant.shredded_ms != 0 || app.store.tenant_keys(tenant.id).await?.is_none() {
            continue;
        }
        sealed += app.seal_consents_of_earlier_versions(tenant.id).await?;
        sealed += app.seal_subject_rows_of_earlier_versions(tenant.id).await?;
    }
    app.store.sync().await?;
    app.store.mark_once(SUBJECT_ROWS_SEALED).await?;
    app.store.sync().await?;
    if sealed > 0 {
        tracing::warn!(
            rows = sealed,
            "sealed the consent events, restrictions and tombstones of an earlier version with their tenants' integrity keys"
        );
    }
    Ok(())
}

/// Set once all rows are sealed; from then on a row without a MAC is refused like a wrong one.
const ROWS_SEALED: &str = "integrity/registry-rows-v1";

/// Rows written by a version before authenticated rows carry no MAC: sealed once, at the first
/// start of this version (after that, removing a row's MAC does not get it sealed again).
async fn seal_rows_of_earlier_versions(app: &App) -> anyhow::Result<()> {
    if app
        .store
        .marks(ROWS_SEALED)
        .await?
        .iter()
        .any(|m| m == ROWS_SEALED)
    {
        return Ok(());
    }
    let mut sealed = 0u64;
    for p in app.store.list_principals(None).await? {
        if p.mac.is_empty() {
            app.put_principal(&p).await?;
            sealed += 1;
        }
    }
    for tenant in app.store.tenants().await? {
        if tenant.shredded_ms != 0 || app.store.tenant_keys(tenant.id).await?.is_none() {
            continue;
        }
        let id = tenant.id;
        if tenant.mac.is_empty() {
            app.put_tenant(&tenant).await?;
            sealed += 1;
        }
        for p in app.store.list_principals(Some(id)).await? {
            if p.mac.is_empty() {
                app.put_principal(&p).await?;
                sealed += 1;
            }
        }
        for p in app.store.list_purposes(id).await? {
            if p.mac.is_empty() {
                app.put_purpose(&p).await?;
                sealed += 1;
            }
        }
        for d in app.store.list_domains(id).await? {
            if d.mac.is_empty() {
                app.put_domain(&d).await?;
                sealed += 1;
            }
        }
        for p in app.store.list_record_policies(id).await? {
            if p.mac.is_empty() {
                app.put_record_policy(&p).await?;
                sealed += 1;
            }
        }
    }
    app.store.sync().await?;
    app.store.mark_once(ROWS_SEALED).await?;
    app.store.sync().await?;
    if sealed > 0 {
        tracing::warn!(
            rows = sealed,
            "sealed the rows of an earlier version with their tenants' integrity keys"
        );
    }
    Ok(())
}

/// The operator audit chain (0) signs its checkpoints with a key ring of its own, made once.
async fn ensure_operator_chain_keys(app: &App) -> anyhow::Result<()> {
    if app.store.tenant_keys(OPERATOR_CHAIN).await?.is_none() {
        let keys = TenantKeys::generate(OPERATOR_CHAIN, app.now_ms());
        app.store
            .put_tenant_keys(&keys.wrap(app.keys.root().as_ref())?)
            .await?;
        app.store.sync().await?;
    }
    Ok(())
}

/// On an empty store, creates the first operator and writes its token to a 0600 file.
async fn ensure_operator(app: &App, data_dir: &Path) -> anyhow::Result<()> {
    if !app.principals(None).await?.is_empty() {
        return Ok(());
    }
    let (principal, token) = new_principal(app, None, "operator", vec![Role::Operator], vec![], "")
        .await
        .map_err(|e| anyhow::anyhow!("creating the first operator: {e}"))?;
    let path = operator_token_path(data_dir);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.expose_secret())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    // The file's name too: a power cut must not leave an operator nobody has the token of.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    app.store.sync().await?;
    tracing::warn!(
        path = %path.display(),
        principal = %principal.id,
        "first start: created the operator principal; its bearer token is in this file (mode 0600), shown nowhere else"
    );
    Ok(())
}
