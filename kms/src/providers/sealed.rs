//! The `sealed` root key: a root key that exists on disk only encrypted under an unseal key,
//! and an unseal key that exists nowhere at all — only as Shamir shares held by N people, any T
//! of whom can bring it back (`valv operator init --shares N --threshold T`).
//!
//! A vault with a seal file starts sealed: no key is in memory and nothing can be unwrapped
//! until T shares arrive ([`Unsealer`]). Sealing again drops the [`SealedFileSlot`] (and with it
//! the unseal key and root key, which zeroize on drop). Splitting and combining are
//! `blahaj` (a maintained fork of `sharks`, GF(256) Shamir, zeroizing); the root key is wrapped
//! with AES-256-GCM.
//!
//! A share prints as `valv-share:<unseal key id>:<hex>`: the id (a key-check value, not secret)
//! lets the vault refuse a share of another vault before it counts towards the threshold.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use blahaj::{Share, Sharks};
use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    RootKeyProvider, RootKeySlot,
    file::{durable_rename, next_path, read_secret_file, write_secret_file},
    local::{LocalRootKey, key_check_value},
};
use crate::{error::KmsError, secret::SecretKey};

/// File name of the seal file in a data directory.
pub const SEAL_FILE: &str = "root.sealed";

const SHARE_PREFIX: &str = "valv-share";
const UNSEAL_KEY_ID_LABEL: &[u8] = b"valv/v1/unseal-key-id";
const SEALED_ROOT_AAD: &[u8] = b"valv/v1/sealed-root";

/// Contents of the seal file (JSON). Nothing in it is secret without T shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealFile {
    /// Format version (1).
    pub format: u32,
    /// How many shares were dealt.
    pub shares: u8,
    /// How many shares unseal.
    pub threshold: u8,
    /// Key-check value of the unseal key.
    pub unseal_key_id: String,
    /// Key-check value of the sealed root key.
    pub root_key_id: String,
    /// Nonce ‖ AES-256-GCM(unseal key, root key), hex.
    pub sealed_root_hex: String,
    /// Only in the incoming seal of a rotation that issues new shares, until a threshold of them
    /// is confirmed: nonce ‖ AES-256-GCM(current unseal key, this seal's unseal key), hex — so a
    /// vault restarted with the current shares can still open it (see `rekey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_from_hex: Option<String>,
}

impl SealFile {
    /// Reads and parses a seal file.
    pub fn read(path: &Path) -> Result<Self, KmsError> {
        let text = read_secret_file(path)?;
        let seal: Self = serde_json::from_str(&text)
            .map_err(|e| KmsError::Provider(format!("{}: not a seal file: {e}", path.display())))?;
        if seal.format != 1 || seal.threshold == 0 || seal.threshold > seal.shares {
            return Err(KmsError::Provider(format!(
                "{}: unsupported seal file",
                path.display()
            )));
        }
        Ok(seal)
    }

    pub(crate) fn seal(
        root: &SecretKey,
        unseal: &SecretKey,
        shares: u8,
        threshold: u8,
    ) -> Result<Self, KmsError> {
        let sealed = wrap_key(unseal, SEALED_ROOT_AAD, root)?;
        Ok(Self {
            format: 1,
            shares,
            threshold,
            unseal_key_id: key_check_value(unseal, UNSEAL_KEY_ID_LABEL),
            root_key_id: key_check_value(root, b"valv/v1/root-key-id"),
            sealed_root_hex: sealed,
            rekey_from_hex: None,
        })
    }

    pub(crate) fn open(&self, unseal: &SecretKey) -> Result<SecretKey, KmsError> {
        unwrap_key(unseal, SEALED_ROOT_AAD, &self.sealed_root_hex)
    }

    pub(crate) fn write(&self, path: &Path) -> Result<(), KmsError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| KmsError::Provider(format!("encoding the seal file: {e}")))?;
        write_secret_file(path, text.as_bytes())
    }
}

/// `key` encrypted under `kek` (AES-256-GCM, random nonce, `aad`): hex of nonce ‖ ciphertext.
pub(crate) fn wrap_key(kek: &SecretKey, aad: &[u8], key: &SecretKey) -> Result<String, KmsError> {
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let body = cipher(kek)
        .encrypt(
            &nonce.into(),
            Payload {
                msg: key.expose_secret(),
                aad,
            },
        )
        .map_err(|_| KmsError::Encrypt)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&body);
    Ok(hex::encode(out))
}

/// The key [`wrap_key`] wrapped.
pub(crate) fn unwrap_key(kek: &SecretKey, aad: &[u8], text: &str) -> Result<SecretKey, KmsError> {
    let bytes = hex::decode(text).map_err(|_| KmsError::Malformed("wrapped key hex"))?;
    if bytes.len() != 12 + SecretKey::LEN + 16 {
        return Err(KmsError::Malformed("wrapped key length"));
    }
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&bytes[..12]);
    let plain = Zeroizing::new(
        cipher(kek)
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &bytes[12..],
                    aad,
                },
            )
            .map_err(|_| KmsError::Decrypt)?,
    );
    SecretKey::from_slice(&plain).ok_or(KmsError::Malformed("wrapped key length"))
}

pub(crate) fn cipher(key: &SecretKey) -> Aes256Gcm {
    // ok: the key is exactly 32 bytes.
    #[allow(clippy::expect_used)]
    Aes256Gcm::new_from_slice(key.expose_secret()).expect("32-byte key")
}

/// Makes a fresh root key sealed under a fresh unseal key, writes the seal file at `path`
/// (refusing to replace one) and returns the `shares` shares of the unseal key, of which
/// `threshold` unseal. The shares are shown once and kept nowhere.
pub fn init(path: &Path, shares: u8, threshold: u8) -> Result<Vec<Zeroizing<String>>, KmsError> {
    if threshold == 0 || threshold > shares {
        return Err(KmsError::Share(format!(
            "threshold must be between 1 and the number of shares ({shares}), not {threshold}"
        )));
    }
    if path.exists() {
        return Err(KmsError::Provider(format!(
            "{} exists: this data directory was initialised already",
            path.display()
        )));
    }
    let unseal = SecretKey::generate();
    let root = SecretKey::generate();
    let seal = SealFile::seal(&root, &unseal, shares, threshold)?;
    let dealt = deal(&unseal, &seal);
    seal.write(path)?;
    Ok(dealt)
}

/// The `seal.shares` shares of `unseal`, any `seal.threshold` of which combine to it.
pub(crate) fn deal(unseal: &SecretKey, seal: &SealFile) -> Vec<Zeroizing<String>> {
    Sharks(seal.threshold)
        .dealer(unseal.expose_secret())
        .take(usize::from(seal.shares))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::from(&share));
            Zeroizing::new(format!(
                "{SHARE_PREFIX}:{}:{}",
                seal.unseal_key_id,
                hex::encode(bytes.as_slice())
            ))
        })
        .collect()
}

/// Parses a share of the seal whose unseal key id is `id`: (share index, share).
pub(crate) fn parse_share(text: &str, id: &str) -> Result<(u8, Share), KmsError> {
    let mut parts = text.trim().splitn(3, ':');
    let (Some(SHARE_PREFIX), Some(share_id), Some(body)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(KmsError::Share(format!(
            "a share looks like `{SHARE_PREFIX}:<vault id>:<hex>`"
        )));
    };
    if share_id != id {
        return Err(KmsError::Share(
            "this share belongs to another vault or to shares that were replaced (its unseal key id differs)".into(),
        ));
    }
    let bytes = Zeroizing::new(
        hex::decode(body).map_err(|_| KmsError::Share("the share is not hex".into()))?,
    );
    if bytes.len() != 1 + SecretKey::LEN || bytes[0] == 0 {
        return Err(KmsError::Share("the share has the wrong length".into()));
    }
    let share = Share::try_from(bytes.as_slice()).map_err(|e| KmsError::Share(e.into()))?;
    Ok((bytes[0], share))
}

/// Combines `threshold` shares into the unseal key whose id is `id`.
pub(crate) fn combine(
    shares: &BTreeMap<u8, Share>,
    threshold: u8,
    id: &str,
) -> Result<SecretKey, KmsError> {
    let combined = Sharks(threshold)
        .recover(shares.values())
        .map(Zeroizing::new)
        .map_err(|e| KmsError::Share(e.into()))?;
    let unseal = SecretKey::from_slice(&combined)
        .ok_or_else(|| KmsError::Share("the shares do not combine to a key".into()))?;
    if key_check_value(&unseal, UNSEAL_KEY_ID_LABEL) != id {
        return Err(KmsError::Share(
            "the shares do not combine to this vault's unseal key; all shares were forgotten, start again".into(),
        ));
    }
    Ok(unseal)
}

/// Collects unseal shares until the threshold is reached.
pub struct Unsealer {
    path: PathBuf,
    seal: SealFile,
    received: BTreeMap<u8, Share>,
}

impl std::fmt::Debug for Unsealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealer")
            .field("path", &self.path)
            .field("progress", &self.received.len())
            .finish_non_exhaustive()
    }
}

impl Unsealer {
    /// Starts collecting shares for the seal file at `path`.
    pub fn open(path: &Path) -> Result<Self, KmsError> {
        Ok(Self {
            path: path.to_path_buf(),
            seal: SealFile::read(path)?,
            received: BTreeMap::new(),
        })
    }

    /// The seal file's figures.
    pub fn seal(&self) -> &SealFile {
        &self.seal
    }

    /// Shares received so far (distinct).
    pub fn progress(&self) -> u8 {
        u8::try_from(self.received.len()).unwrap_or(u8::MAX)
    }

    /// Whether `text` is a share of this vault (parses, and carries this vault's unseal key id),
    /// without counting it.
    pub fn check(&self, text: &str) -> Result<(), KmsError> {
        parse_share(text, &self.seal.unseal_key_id).map(|_| ())
    }

    /// Forgets the shares received so far.
    pub fn reset(&mut self) {
        self.received.clear();
    }

    /// Adds one share. Returns the unsealed slot once the threshold is reached (and forgets the
    /// shares); `None` while more are needed. A share that does not parse or belongs to another
    /// vault is refused without counting; shares that reach the threshold but do not combine
    /// to this vault's key are all forgotten, so the holders start again.
    pub fn add(&mut self, text: &str) -> Result<Option<SealedFileSlot>, KmsError> {
        let (index, share) = parse_share(text, &self.seal.unseal_key_id)?;
        self.received.insert(index, share);
        if self.received.len() < usize::from(self.seal.threshold) {
            return Ok(None);
        }
        let unseal = combine(
            &self.received,
            self.seal.threshold,
            &self.seal.unseal_key_id,
        );
        self.received.clear();
        let slot = SealedFileSlot::new(self.path.clone(), unseal?);
        slot.current()?;
        Ok(Some(slot))
    }
}

/// An unsealed seal file: the unseal key in memory (for root-key rotations, which seal the
/// incoming root key under it), the root key read from the file on demand.
pub struct SealedFileSlot {
    pub(crate) path: PathBuf,
    pub(crate) unseal: std::sync::Mutex<SecretKey>,
    /// New shares confirmed so far, while a rotation with new shares waits (see `rekey`).
    pub(crate) confirming: std::sync::Mutex<BTreeMap<u8, Share>>,
}

impl SealedFileSlot {
    fn new(path: PathBuf, unseal: SecretKey) -> Self {
        Self {
            path,
            unseal: std::sync::Mutex::new(unseal),
            confirming: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The unseal key in use (a copy; it zeroizes on drop).
    pub(crate) fn unseal_key(&self) -> Result<SecretKey, KmsError> {
        self.unseal
            .lock()
            .map(|k| k.clone())
            .map_err(|_| KmsError::Provider("unseal key lock poisoned".into()))
    }
}

impl RootKeySlot for SealedFileSlot {
    fn describe(&self) -> String {
        format!("sealed {}", self.path.display())
    }

    fn current(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        let root = SealFile::read(&self.path)?.open(&self.unseal_key()?)?;
        Ok(Arc::new(LocalRootKey::new("sealed", &root)))
    }

    fn next(&self, create: bool) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
        let next = next_path(&self.path);
        let unseal = self.unseal_key()?;
        if next.exists()
            && SealFile::read(&next)?.root_key_id == SealFile::read(&self.path)?.root_key_id
        {
            // Left behind by a confirmation of new shares that renamed its copy over the
            // current seal and stopped before removing it.
            std::fs::remove_file(&next)?;
        }
        if !next.exists() {
            if !create {
                return Ok(None);
            }
            let seal = SealFile::read(&self.path)?;
            SealFile::seal(&SecretKey::generate(), &unseal, seal.shares, seal.threshold)?
                .write(&next)?;
        }
        let seal = SealFile::read(&next)?;
        let root = super::rekey::open_next(&seal, &unseal)?;
        Ok(Some(Arc::new(LocalRootKey::new("sealed", &root))))
    }

    fn promote_next(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        let next = next_path(&self.path);
        if SealFile::read(&next)?.rekey_from_hex.is_some() {
            return Err(KmsError::Provider(
                "the incoming root key waits for a threshold of its new shares to be confirmed"
                    .into(),
            ));
        }
        durable_rename(&next, &self.path)?;
        self.current()
    }

    fn rekey(
        &self,
        shares: u8,
        threshold: u8,
    ) -> Result<Option<(Arc<dyn RootKeyProvider>, Vec<Zeroizing<String>>)>, KmsError> {
        super::rekey::start(self, shares, threshold).map(Some)
    }

    fn awaiting_new_shares(&self) -> Result<Option<(u8, u8)>, KmsError> {
        super::rekey::awaiting(self)
    }

    fn confirm_new_share(&self, share: &str) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
        super::rekey::confirm(self, share)
    }

    fn key_ids(&self) -> Result<Vec<String>, KmsError> {
        let mut ids = Vec::new();
        for path in [self.path.clone(), next_path(&self.path)] {
            if path.exists() {
                ids.push(SealFile::read(&path)?.root_key_id);
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dealt(dir: &Path, n: u8, t: u8) -> (PathBuf, Vec<Zeroizing<String>>) {
        let path = dir.join(SEAL_FILE);
        let shares = init(&path, n, t).unwrap();
        (path, shares)
    }

    #[test]
    fn any_threshold_of_shares_unseals_the_same_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let (path, shares) = dealt(dir.path(), 5, 3);
        assert_eq!(shares.len(), 5);
        let mut ids = Vec::new();
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let mut u = Unsealer::open(&path).unwrap();
            assert!(matches!(u.add(&shares[pick[0]]), Ok(None)));
            // The same share twice does not count twice.
            assert!(matches!(u.add(&shares[pick[0]]), Ok(None)));
            assert_eq!(u.progress(), 1);
            assert!(matches!(u.add(&shares[pick[1]]), Ok(None)));
            let slot = u
                .add(&shares[pick[2]])
                .unwrap()
                .unwrap_or_else(|| panic!("threshold reached"));
            ids.push(slot.current().map(|r| r.root_key_id()).unwrap_or_default());
        }
        assert_eq!(ids[0].len(), 16);
        assert!(ids.iter().all(|id| *id == ids[0]));
        let seal = SealFile::read(&path).unwrap();
        assert_eq!(seal.root_key_id, ids[0]);
    }

    #[test]
    fn a_wrong_or_foreign_share_does_not_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let (path, shares) = dealt(dir.path(), 3, 2);
        let other = tempfile::tempdir().unwrap();
        let (_, foreign) = dealt(other.path(), 3, 2);
        let mut u = Unsealer::open(&path).unwrap();
        assert!(matches!(u.add(&foreign[0]), Err(KmsError::Share(_))));
        assert!(matches!(u.add("nonsense"), Err(KmsError::Share(_))));
        assert_eq!(u.progress(), 0);
        // A share with one changed byte counts, but the combination is refused and forgotten.
        let mut bad = shares[1].to_string();
        let last = bad.pop().map_or('0', |c| if c == '0' { '1' } else { '0' });
        bad.push(last);
        assert!(matches!(u.add(&shares[0]), Ok(None)));
        assert!(matches!(u.add(&bad), Err(KmsError::Share(_))));
        assert_eq!(u.progress(), 0);
        assert!(u.add(&shares[0]).is_ok_and(|s| s.is_none()));
        assert!(u.add(&shares[2]).is_ok_and(|s| s.is_some()));
    }

    #[test]
    fn a_rotation_seals_the_next_root_key_under_the_same_shares() {
        let dir = tempfile::tempdir().unwrap();
        let (path, shares) = dealt(dir.path(), 2, 2);
        let mut u = Unsealer::open(&path).unwrap();
        let _ = u.add(&shares[0]);
        let slot = u
            .add(&shares[1])
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("unsealed"));
        let old = slot.current().unwrap();
        assert!(slot.next(false).is_ok_and(|n| n.is_none()));
        let next = slot
            .next(true)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("next"));
        assert_ne!(next.root_key_id(), old.root_key_id());
        let promoted = slot.promote_next().unwrap();
        assert_eq!(promoted.root_key_id(), next.root_key_id());
        let mut again = Unsealer::open(&path).unwrap();
        let _ = again.add(&shares[1]);
        let slot = again
            .add(&shares[0])
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("unsealed"));
        assert_eq!(
            slot.current().map(|r| r.root_key_id()).unwrap_or_default(),
            next.root_key_id()
        );
    }

    #[test]
    fn init_refuses_a_bad_threshold_and_an_existing_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEAL_FILE);
        assert!(init(&path, 3, 4).is_err());
        assert!(init(&path, 3, 0).is_err());
        assert!(init(&path, 3, 2).is_ok());
        assert!(init(&path, 3, 2).is_err());
    }
}
