//! A root-key rotation that replaces the unseal shares, so that the old shares stop working
//! (after a shred, or when a holder leaves). It must never leave a vault that nobody can open:
//! the new shares exist only in the answer to the operator, and that answer can be lost, or the
//! process can die before it is sent. So it goes in two steps:
//!
//! 1. [`start`]: the incoming root key is sealed under a new unseal key U′ into `root.sealed.next`,
//!    together with U′ encrypted under the current unseal key U (`rekey_from_hex`), and U′'s new
//!    shares are returned. The key rings are then re-wrapped under the incoming root key. A
//!    restart in this state unseals with the *current* shares and opens the incoming key via U.
//! 2. [`confirm`]: holders give back new shares; when a threshold combines to U′, the incoming
//!    seal is rewritten without `rekey_from_hex` and renamed over `root.sealed`. From then on
//!    only the new shares open the vault; the old root key and U are gone.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{
    RootKeyProvider,
    file::{durable_rename, next_path},
    local::LocalRootKey,
    sealed::{SealFile, SealedFileSlot, combine, deal, parse_share, unwrap_key, wrap_key},
};
use crate::{error::KmsError, secret::SecretKey};

const REKEY_AAD: &[u8] = b"valv/v1/rekey";

/// The root key of an incoming seal, opened with the current unseal key — directly, or through
/// the new unseal key it carries while its shares wait for confirmation.
pub(crate) fn open_next(seal: &SealFile, current: &SecretKey) -> Result<SecretKey, KmsError> {
    match &seal.rekey_from_hex {
        Some(text) => seal.open(&unwrap_key(current, REKEY_AAD, text)?),
        None => seal.open(current),
    }
}

/// Step 1: the incoming root key under a new unseal key, and that key's shares.
#[allow(clippy::type_complexity)]
pub(crate) fn start(
    slot: &SealedFileSlot,
    shares: u8,
    threshold: u8,
) -> Result<(Arc<dyn RootKeyProvider>, Vec<Zeroizing<String>>), KmsError> {
    if threshold == 0 || threshold > shares {
        return Err(KmsError::Share(format!(
            "threshold must be between 1 and the number of shares ({shares}), not {threshold}"
        )));
    }
    let next = next_path(&slot.path);
    if next.exists() {
        return Err(KmsError::Provider(
            "a root-key rotation is unfinished; finish it first".into(),
        ));
    }
    let current = slot.unseal_key()?;
    let new_unseal = SecretKey::generate();
    let root = SecretKey::generate();
    let mut seal = SealFile::seal(&root, &new_unseal, shares, threshold)?;
    seal.rekey_from_hex = Some(wrap_key(&current, REKEY_AAD, &new_unseal)?);
    let dealt = deal(&new_unseal, &seal);
    seal.write(&next)?;
    Ok((Arc::new(LocalRootKey::new("sealed", &root)), dealt))
}

/// While new shares wait: (confirmed so far, threshold).
pub(crate) fn awaiting(slot: &SealedFileSlot) -> Result<Option<(u8, u8)>, KmsError> {
    let next = next_path(&slot.path);
    if !next.exists() {
        return Ok(None);
    }
    let seal = SealFile::read(&next)?;
    if seal.rekey_from_hex.is_none() {
        return Ok(None);
    }
    let got = slot
        .confirming
        .lock()
        .map(|m| u8::try_from(m.len()).unwrap_or(u8::MAX))
        .unwrap_or(0);
    Ok(Some((got, seal.threshold)))
}

/// Step 2: one new share; at the threshold the incoming key becomes the only one.
pub(crate) fn confirm(
    slot: &SealedFileSlot,
    text: &str,
) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
    let next = next_path(&slot.path);
    let seal = if next.exists() {
        SealFile::read(&next)?
    } else {
        return Err(KmsError::Provider(
            "no rotation waits for new shares".into(),
        ));
    };
    if seal.rekey_from_hex.is_none() {
        return Err(KmsError::Provider(
            "no rotation waits for new shares".into(),
        ));
    }
    let (index, share) = parse_share(text, &seal.unseal_key_id)?;
    let mut confirming = slot
        .confirming
        .lock()
        .map_err(|_| KmsError::Provider("share lock poisoned".into()))?;
    confirming.insert(index, share);
    if confirming.len() < usize::from(seal.threshold) {
        return Ok(None);
    }
    let new_unseal = combine(&confirming, seal.threshold, &seal.unseal_key_id);
    confirming.clear();
    drop(confirming);
    let new_unseal = new_unseal?;
    let root = seal.open(&new_unseal)?;
    // Rewritten beside, then renamed over the current seal: a crash leaves either the old seal
    // and the waiting incoming one, or the new seal alone.
    let done = SealFile {
        rekey_from_hex: None,
        ..seal
    };
    let staged = {
        let mut name = next.as_os_str().to_owned();
        name.push(".confirmed");
        std::path::PathBuf::from(name)
    };
    let _ = std::fs::remove_file(&staged);
    done.write(&staged)?;
    durable_rename(&staged, &slot.path)?;
    std::fs::remove_file(&next)?;
    *slot
        .unseal
        .lock()
        .map_err(|_| KmsError::Provider("unseal key lock poisoned".into()))? = new_unseal;
    Ok(Some(Arc::new(LocalRootKey::new("sealed", &root))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::providers::{
        RootKeySlot,
        sealed::{SEAL_FILE, Unsealer, init},
    };

    fn unsealed(path: &std::path::Path, shares: &[Zeroizing<String>]) -> SealedFileSlot {
        let mut u = Unsealer::open(path).unwrap();
        let mut slot = None;
        for s in shares {
            slot = u.add(s).unwrap();
        }
        slot.unwrap()
    }

    #[test]
    fn new_shares_take_over_only_when_a_threshold_of_them_is_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEAL_FILE);
        let old = init(&path, 3, 2).unwrap();
        let slot = unsealed(&path, &old[..2]);
        let (incoming, new) = slot.rekey(2, 2).unwrap().unwrap();
        assert!(slot.rekey(2, 2).is_err(), "one rotation at a time");
        assert!(
            slot.promote_next().is_err(),
            "not before the shares are confirmed"
        );
        assert_eq!(slot.awaiting_new_shares().unwrap(), Some((0, 2)));
        // A restart with the old shares opens the incoming key through the old unseal key.
        let restarted = unsealed(&path, &old[1..]);
        let reopened = restarted.next(false).unwrap().unwrap();
        assert_eq!(reopened.root_key_id(), incoming.root_key_id());
        // An old share does not confirm; the new ones do.
        assert!(restarted.confirm_new_share(&old[0]).is_err());
        assert!(restarted.confirm_new_share(&new[0]).unwrap().is_none());
        let current = restarted.confirm_new_share(&new[1]).unwrap().unwrap();
        assert_eq!(current.root_key_id(), incoming.root_key_id());
        assert_eq!(restarted.awaiting_new_shares().unwrap(), None);
        assert!(restarted.next(false).unwrap().is_none());
        // Only the new shares unseal now, and a later plain rotation keeps them.
        assert!(Unsealer::open(&path).unwrap().add(&old[0]).is_err());
        let slot = unsealed(&path, &new);
        assert_eq!(
            slot.current().unwrap().root_key_id(),
            incoming.root_key_id()
        );
        assert!(slot.next(true).unwrap().is_some());
        slot.promote_next().unwrap();
        assert!(unsealed(&path, &new).current().is_ok());
    }

    #[test]
    fn a_confirmation_cut_off_after_its_rename_leaves_a_vault_that_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEAL_FILE);
        let old = init(&path, 2, 2).unwrap();
        let slot = unsealed(&path, &old);
        let (incoming, new) = slot.rekey(2, 2).unwrap().unwrap();
        let next = next_path(&path);
        let kept = std::fs::read(&next).unwrap();
        slot.confirm_new_share(&new[0]).unwrap();
        slot.confirm_new_share(&new[1]).unwrap().unwrap();
        // As if the process died between the rename and removing the incoming copy.
        std::fs::write(&next, kept).unwrap();
        let mut mode = std::fs::metadata(&next).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o600);
        std::fs::set_permissions(&next, mode).unwrap();
        let restarted = unsealed(&path, &new);
        assert!(
            restarted.next(false).unwrap().is_none(),
            "the leftover is removed"
        );
        assert!(!next.exists());
        assert_eq!(
            restarted.current().unwrap().root_key_id(),
            incoming.root_key_id()
        );
    }
}
