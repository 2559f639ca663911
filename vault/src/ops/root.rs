//! Root-key rotation (operator): every key ring is re-wrapped under a fresh root key, after
//! which the old root key is gone — the provider's slot erases it (the file and sealed
//! providers rename the new key's file over the old one; the pkcs11 provider destroys the old
//! key object in the token). Crash-safe: the new key is made beside the old one first
//! (`<file>.next`, or a token key labelled `<label>.next`); a vault that starts and finds it
//! finishes the rotation (key rings are told apart by the root key id that wrapped them) before
//! it serves anything.

use std::sync::Arc;

use valv_kms::{Rewrapping, RootKeyProvider, TenantKeys};

use crate::{
    app::App,
    audit::{self, OPERATOR_CHAIN},
    error::{VaultError, VaultResult},
};

/// Re-wraps every key ring under `new` (unwrapping each secret with whichever key wrapped it)
/// and makes that durable. Returns how many key rings were re-wrapped.
async fn rewrap_all(
    app: &App,
    old: &dyn RootKeyProvider,
    new: &dyn RootKeyProvider,
) -> VaultResult<u64> {
    let both = Rewrapping { old, new };
    let mut n = 0;
    for mut wrapped in app.store.all_tenant_keys().await? {
        // Compare-and-swap: a ring another node changed meanwhile is read again and re-wrapped.
        loop {
            let keys = TenantKeys::unwrap(&wrapped, &both)?;
            if app
                .store
                .replace_tenant_keys(&wrapped, &keys.wrap(new)?)
                .await?
            {
                n += 1;
                break;
            }
            match app.store.tenant_keys(wrapped.tenant_id).await? {
                Some(now) => wrapped = now,
                None => break, // shredded meanwhile
            }
        }
    }
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!(
            "re-wrapped key rings could not be made durable: {e}"
        ))
    })?;
    Ok(n)
}

/// New unseal shares for a rotation: how many, and how many unseal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewShares {
    /// Shares dealt.
    pub shares: u8,
    /// Shares that unseal.
    pub threshold: u8,
}

impl NewShares {
    /// From a request: `None` for 0 (keep the shares), else checked.
    pub fn from_request(shares: u32, threshold: u32) -> VaultResult<Option<Self>> {
        if shares == 0 && threshold == 0 {
            return Ok(None);
        }
        let shares = u8::try_from(shares)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| VaultError::invalid("new_shares", "between 1 and 255"))?;
        let threshold = u8::try_from(threshold)
            .ok()
            .filter(|t| *t >= 1 && *t <= shares)
            .ok_or_else(|| VaultError::invalid("new_threshold", "between 1 and new_shares"))?;
        Ok(Some(Self { shares, threshold }))
    }
}

/// What a rotation carried out left: the new root key id, and the new shares when asked for
/// (shown once to the caller that carried it out).
pub struct Rotated {
    /// Key-check value of the root key now in use.
    pub root_key_id: String,
    /// The new unseal shares (empty when the shares were kept).
    pub new_shares: Vec<zeroize::Zeroizing<String>>,
}

fn waiting_for_shares() -> VaultError {
    VaultError::FailedPrecondition(
        "a root-key rotation waits for its new shares to be confirmed (`valvctl unseal --confirm-new-share`); nothing else rotates until then".into(),
    )
}

/// Rotates the root key now (after any approval). `requested_by` and `approved_by` name who.
/// With `new_shares`, the incoming key is sealed under a new unseal key and stays incoming
/// until a threshold of the new shares is confirmed ([`confirm_new_share`]).
pub async fn rotate_now(
    app: &Arc<App>,
    requested_by: &str,
    approved_by: Option<&str>,
    request_id: &str,
    new_shares: Option<NewShares>,
) -> VaultResult<Rotated> {
    let slot = app.keys.root_slot().ok_or_else(|| {
        VaultError::FailedPrecondition("the vault is sealed; unseal it first".into())
    })?;
    let exclusive = app.keys.root_change().await;
    if slot.awaiting_new_shares()?.is_some() {
        return Err(waiting_for_shares());
    }
    let old = app.keys.root();
    let (next, dealt) = match new_shares {
        None => (
            slot.next(true)?
                .ok_or_else(|| VaultError::Internal("the root key slot made no next key".into()))?,
            Vec::new(),
        ),
        Some(n) => slot.rekey(n.shares, n.threshold)?.ok_or_else(|| {
            VaultError::FailedPrecondition(
                "new_shares: only a `sealed` root key has unseal shares".into(),
            )
        })?,
    };
    let mut entry = audit::entry(app.now_ms(), requested_by, "root.rotate");
    entry.request_id = request_id.to_owned();
    entry.items = vec![
        (format!("root-key:{}", old.root_key_id()), "replaced".into()),
        (format!("root-key:{}", next.root_key_id()), "active".into()),
    ];
    if let Some(n) = new_shares {
        entry.items.push((
            "unseal-shares".into(),
            "replaced-awaiting-confirmation".into(),
        ));
        entry.changes = vec![(
            "unseal_shares".into(),
            String::new(),
            format!("{} of {}", n.threshold, n.shares),
        )];
    }
    if let Some(approver) = approved_by {
        entry.items.push((approver.to_owned(), "approved".into()));
    }
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    let rings = rewrap_all(app, old.as_ref(), next.as_ref()).await?;
    if new_shares.is_some() {
        // Incoming until the new shares are confirmed: the key rings are under it already, and
        // a restart with the old shares opens it through the old unseal key.
        let id = next.root_key_id();
        app.keys.set_root(next, Some(slot));
        drop(exclusive);
        tracing::warn!(root_key_id = %id, rings, "root key rotated with new unseal shares; the old shares work until a threshold of the new ones is confirmed");
        return Ok(Rotated {
            root_key_id: id,
            new_shares: dealt,
        });
    }
    drop(next);
    let current = slot.promote_next()?;
    let id = current.root_key_id();
    app.keys.set_root(current, Some(slot));
    drop(exclusive);
    tracing::warn!(root_key_id = %id, rings, "root key rotated; the previous root key is erased");
    Ok(Rotated {
        root_key_id: id,
        new_shares: Vec::new(),
    })
}

/// One new share of a rotation that replaced the shares; at the threshold the rotation is
/// finished and the old shares stop working. Returns (confirmed, threshold), or `None` when
/// finished now.
pub async fn confirm_new_share(app: &App, share: &str) -> VaultResult<Option<(u8, u8)>> {
    let slot = app.keys.root_slot().ok_or_else(|| {
        VaultError::FailedPrecondition("the vault is sealed; unseal it first".into())
    })?;
    let exclusive = app.keys.root_change().await;
    if slot.awaiting_new_shares()?.is_none() {
        return Err(VaultError::FailedPrecondition(
            "no root-key rotation waits for new shares".into(),
        ));
    }
    let Some(current) = slot.confirm_new_share(share)? else {
        return Ok(slot.awaiting_new_shares()?);
    };
    let id = current.root_key_id();
    app.keys.set_root(current, Some(slot));
    drop(exclusive);
    let mut entry = audit::entry(app.now_ms(), "valv", "root.shares.replaced");
    entry.items = vec![(format!("root-key:{id}"), "sole".into())];
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    tracing::warn!(root_key_id = %id, "the new unseal shares are confirmed; the old shares and the old root key are gone");
    Ok(None)
}

/// Finishes a root-key rotation that a crash cut off (at start, before serving).
pub async fn finish_interrupted(app: &App) -> VaultResult<()> {
    let Some(slot) = app.keys.root_slot() else {
        return Ok(());
    };
    let Some(new) = slot.next(false)? else {
        return Ok(());
    };
    let old = app.keys.root();
    if let Some((_, threshold)) = slot.awaiting_new_shares()? {
        // A rotation with new shares stays incoming until they are confirmed.
        rewrap_all(app, old.as_ref(), new.as_ref()).await?;
        app.keys.set_root(new, Some(slot));
        tracing::warn!(
            threshold,
            "a root-key rotation waits for a threshold of its new shares to be confirmed (valvctl unseal --confirm-new-share)"
        );
        return Ok(());
    }
    tracing::warn!(root = %slot.describe(), "finishing an interrupted root-key rotation");
    let mut entry = audit::entry(app.now_ms(), "valv", "root.rotate.resumed");
    entry.items = vec![(format!("root-key:{}", new.root_key_id()), "active".into())];
    app.audit.append(OPERATOR_CHAIN, entry).await?;
    rewrap_all(app, old.as_ref(), new.as_ref()).await?;
    drop(new);
    let current = slot.promote_next()?;
    app.keys.set_root(current, Some(slot));
    Ok(())
}

/// `RotateRootKey` for an operator: runs now, or files it for a second operator's approval.
pub async fn rotate(
    app: &Arc<App>,
    caller: &crate::authz::Caller,
    new_shares: Option<NewShares>,
) -> VaultResult<(super::approval::Outcome, Vec<zeroize::Zeroizing<String>>)> {
    caller.require(crate::store::records::Role::Operator)?;
    if new_shares.is_some() && app.seal.is_none() {
        return Err(VaultError::FailedPrecondition(
            "new_shares: only a `sealed` root key has unseal shares".into(),
        ));
    }
    let op = crate::store::records::PendingOpRecord {
        tenant_id: OPERATOR_CHAIN,
        kind: super::approval::ROTATE_ROOT_KEY.into(),
        requested_by: caller.id().to_owned(),
        payload: match new_shares {
            Some(n) => serde_json::to_string(&n)
                .map_err(|e| VaultError::Internal(format!("new shares: {e}")))?,
            None => String::new(),
        },
        changes: new_shares
            .map(|n| {
                vec![(
                    "unseal_shares".into(),
                    String::new(),
                    format!("{} of {}", n.threshold, n.shares),
                )]
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    match super::approval::file(app, caller, op).await? {
        Some(pending) => Ok((pending, Vec::new())),
        None => {
            let r = rotate_now(app, caller.id(), None, &caller.request_id, new_shares).await?;
            Ok((
                super::approval::Outcome::Done(format!(
                    "root key rotated; new root key id {}",
                    r.root_key_id
                )),
                r.new_shares,
            ))
        }
    }
}
