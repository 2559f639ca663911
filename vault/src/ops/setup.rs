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
    app::App,
    audit::OPERATOR_CHAIN,
    authz::token,
    ops::principals::record,
    store::records::{PrincipalRecord, Role},
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

/// Where the first operator token waits while the operator it belongs to is being stored.
fn pending_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token.new")
}

/// Writes `token` to `path` (mode 0600) and makes the file and its name durable.
fn write_token_durably(path: &Path, token: &[u8]) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(token)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// On an empty store, creates the first operator and writes its token to a 0600 file — in an
/// order a power cut cannot turn into an operator whose token nobody has: the token goes to
/// `operator.token.new` (durable), then the principal into the store (durable), then the file
/// is renamed to `operator.token`. A start that finds the store holding principals and a
/// pending file whose token is a stored operator's finishes the rename; a pending file that
/// names nobody is a leftover of a start cut off before its principal was stored, and goes.
async fn ensure_operator(app: &App, data_dir: &Path) -> anyhow::Result<()> {
    let path = operator_token_path(data_dir);
    let pending = pending_token_path(data_dir);
    let principals = app.principals(None).await?;
    if !principals.is_empty() {
        return finish_pending_token(&pending, &path, &principals);
    }
    let mut principal = record(app, None, "operator", vec![Role::Operator], vec![], "");
    let (token, hash) = token::secret_for(token::TOKEN, &principal.id);
    principal.token_sha256 = hash;
    write_token_durably(&pending, token.expose_secret())?;
    app.put_principal(&principal)
        .await
        .map_err(|e| anyhow::anyhow!("creating the first operator: {e}"))?;
    app.store.sync().await?;
    std::fs::rename(&pending, &path)?;
    sync_parent(&path)?;
    tracing::warn!(
        path = %path.display(),
        principal = %principal.id,
        "first start: created the operator principal; its bearer token is in this file (mode 0600), shown nowhere else"
    );
    Ok(())
}

/// Finishes (or clears) a first start that a crash cut off after its token file was written.
fn finish_pending_token(
    pending: &Path,
    path: &Path,
    principals: &[PrincipalRecord],
) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(pending) else {
        return Ok(());
    };
    let belongs = token::parse(text.trim()).is_some_and(|(id, secret)| {
        principals.iter().any(|p| {
            p.id == id
                && p.tenant_id.is_none()
                && !p.revoked
                && token::verify(secret, &p.token_sha256)
        })
    });
    if belongs && !path.exists() {
        std::fs::rename(pending, path)?;
        sync_parent(path)?;
        tracing::warn!(
            path = %path.display(),
            "the first start was cut off before it handed over the operator token: it is in this file now (mode 0600)"
        );
    } else {
        std::fs::remove_file(pending)?;
        sync_parent(pending)?;
        tracing::warn!(
            path = %pending.display(),
            "removed a first operator token that no stored operator has (left by a start cut off before storing it)"
        );
    }
    Ok(())
}
