//! Sealing (operator): a vault set up with `valv operator init` starts with no root key in
//! memory and answers nothing but its seal status until enough key shares arrive through
//! `Unseal`; `Seal` returns it to that state at once, wiping every key it held.
//!
//! Unseal is unauthenticated on purpose — the shares are the credential, and no principal can
//! be checked before the keys are back — but a share of another vault, or one that does not
//! parse, never counts; every unseal and seal is audited in the operator chain.

use std::sync::Arc;

use valv_kms::RootKeySlot;

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    authz::Caller,
    error::{VaultError, VaultResult},
    store::records::Role,
};

/// What `GetSealStatus` tells anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// No root key in memory.
    pub sealed: bool,
    /// Shares needed (0 without a seal file).
    pub threshold: u32,
    /// Shares dealt (0 without a seal file).
    pub shares: u32,
    /// Distinct shares received towards the threshold.
    pub progress: u32,
    /// Where the root key lives: `file`, `sealed` or `pkcs11`.
    pub provider: &'static str,
    /// While a rotation's new shares wait: how many are needed (0: none wait).
    pub new_shares_threshold: u32,
    /// And how many were confirmed.
    pub new_shares_confirmed: u32,
}

fn awaiting(app: &App) -> (u32, u32) {
    app.keys
        .root_slot()
        .and_then(|s| s.awaiting_new_shares().ok().flatten())
        .map_or((0, 0), |(got, t)| (u32::from(t), u32::from(got)))
}

/// The seal status.
pub async fn status(app: &App) -> Status {
    let Some(seal) = &app.seal else {
        return Status {
            sealed: false,
            threshold: 0,
            shares: 0,
            progress: 0,
            provider: app.keys.root().name(),
            new_shares_threshold: 0,
            new_shares_confirmed: 0,
        };
    };
    let unsealer = seal.unsealer.lock().await;
    let (new_shares_threshold, new_shares_confirmed) = awaiting(app);
    Status {
        sealed: seal.is_sealed(),
        threshold: u32::from(unsealer.seal().threshold),
        shares: u32::from(unsealer.seal().shares),
        progress: u32::from(unsealer.progress()),
        provider: "sealed",
        new_shares_threshold,
        new_shares_confirmed,
    }
}

fn no_seal() -> VaultError {
    VaultError::FailedPrecondition(
        "this vault has no seal (it was not set up with `valv operator init`); stop the process instead"
            .into(),
    )
}

fn throttled() -> VaultError {
    VaultError::ResourceExhausted(
        "share: too many refused shares from this address; try again in a minute".into(),
    )
}

/// Adds one key share; the share that reaches the threshold unseals the vault (and, on its
/// first unseal, finishes setting up the data directory). `reset` forgets shares given so far,
/// but only together with a share of this vault (which then counts): a caller without one
/// cannot undo what the holders gave. Refused shares are counted per source address `peer`;
/// past the limit its attempts are refused for a while, other addresses' are not.
pub async fn unseal(
    app: &Arc<App>,
    share: &str,
    reset: bool,
    peer: Option<std::net::IpAddr>,
) -> VaultResult<Status> {
    let seal = app.seal.as_ref().ok_or_else(no_seal)?;
    if seal.throttled(peer) {
        return Err(throttled());
    }
    {
        let mut unsealer = seal.unsealer.lock().await;
        if !seal.is_sealed() {
            return Err(VaultError::FailedPrecondition(
                "the vault is not sealed".into(),
            ));
        }
        if share.is_empty() {
            return Err(VaultError::invalid(
                "share",
                if reset {
                    "a reset needs a share of this vault (it replaces the shares given so far)"
                } else {
                    "must not be empty"
                },
            ));
        }
        if reset {
            if let Err(e) = unsealer.check(share) {
                seal.refused_from(peer);
                return Err(e.into());
            }
            unsealer.reset();
        }
        let added = unsealer.add(share);
        if added.is_err() {
            seal.refused_from(peer);
        }
        let Some(slot) = added? else {
            drop(unsealer);
            return Ok(status(app).await);
        };
        let slot: Arc<dyn RootKeySlot> = Arc::new(slot);
        app.keys.set_root(slot.current()?, Some(slot));
        let threshold = unsealer.seal().threshold;
        if let Err(e) = super::setup::after_unseal(app, &seal.data_dir).await {
            app.keys.forget()?;
            return Err(VaultError::Unavailable(format!(
                "unsealed, but starting up failed, so the vault sealed itself again: {e:#}"
            )));
        }
        let mut entry = audit::entry(app.now_ms(), "valv", "vault.unseal");
        entry.items = vec![(format!("shares:{threshold}"), "combined".into())];
        app.audit.append(OPERATOR_CHAIN, entry).await?;
        seal.set(false);
    }
    crate::jobs::resume(app, true).await?;
    tracing::warn!("vault unsealed: the root key is in memory");
    Ok(status(app).await)
}

/// Seals the vault now (operator): new calls are refused at once, every unwrapped key is
/// dropped, and shares must be given again.
pub async fn seal(app: &App, caller: &Caller) -> VaultResult<Status> {
    caller.require(Role::Operator)?;
    let seal = app.seal.as_ref().ok_or_else(no_seal)?;
    {
        // No key ring is being wrapped while the keys go.
        let _exclusive = app.keys.root_change().await;
        seal.set(true);
        app.keys.forget()?;
        // Read again: new shares may have replaced the ones it was started with.
        seal.reload(&mut *seal.unsealer.lock().await)?;
    }
    let mut entry = audit::entry(app.now_ms(), caller.id(), "vault.seal");
    entry.request_id.clone_from(&caller.request_id);
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    tracing::warn!(
        by = caller.id(),
        "vault sealed: every key was dropped from memory"
    );
    Ok(status(app).await)
}

/// One of the new shares of a rotation that replaced them; the share that reaches the threshold
/// finishes it, and from then on only the new shares unseal (the seal file is read again).
pub async fn confirm_new_share(
    app: &Arc<App>,
    share: &str,
    peer: Option<std::net::IpAddr>,
) -> VaultResult<Status> {
    let seal = app.seal.as_ref().ok_or_else(no_seal)?;
    if seal.throttled(peer) {
        return Err(throttled());
    }
    if seal.is_sealed() {
        return Err(VaultError::FailedPrecondition(
            "the vault is sealed; unseal it with the current shares first".into(),
        ));
    }
    if share.is_empty() {
        return Err(VaultError::invalid("share", "must not be empty"));
    }
    let confirmed = super::root::confirm_new_share(app, share).await;
    if matches!(confirmed, Err(VaultError::InvalidArgument { .. })) {
        seal.refused_from(peer);
    }
    if confirmed?.is_none() {
        seal.reload(&mut *seal.unsealer.lock().await)?;
    }
    Ok(status(app).await)
}
