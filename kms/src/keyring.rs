//! A tenant's secrets: the encryption key ring (versions), the pseudonym secret (epochs) and the
//! subject-handle secret — and their wrapped, storable form.
//!
//! The three are independent on purpose: rotating the encryption ring re-encrypts stored
//! identifiers but never changes a pseudonym; rotating a pseudonym epoch changes pseudonyms but
//! not ciphertexts; the subject secret keeps consents attached to the same person across both.

use serde::{Deserialize, Serialize};

use crate::{
    derive::{DerivedKeyPurpose, derive_key},
    envelope::{DataKey, KeyVersion},
    error::KmsError,
    providers::{RootKeyProvider, WrappedKey},
    secret::SecretKey,
    signing::SigningKey,
};

/// Lifecycle state of an encryption key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// New data is encrypted under it.
    Active,
    /// Still opens old data; encrypts nothing new.
    DecryptOnly,
    /// Replaced by a rotation that re-encrypted every record; its material is erased.
    Retired,
    /// Destroyed on purpose (e.g. after a compromise); its material is erased.
    Destroyed,
}

struct EncryptionVersion {
    version: KeyVersion,
    state: KeyState,
    created_unix_ms: i64,
    /// `None` once retired or destroyed.
    key: Option<SecretKey>,
}

/// The unwrapped secrets of one tenant, held in memory while the vault serves it.
pub struct TenantKeys {
    tenant_id: u64,
    encryption: Vec<EncryptionVersion>,
    pseudonym_epochs: Vec<(u32, SecretKey)>,
    subject: SecretKey,
    signing: SecretKey,
}

impl std::fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantKeys")
            .field("tenant_id", &self.tenant_id)
            .field(
                "versions",
                &self
                    .encryption
                    .iter()
                    .map(|v| (v.version, v.state))
                    .collect::<Vec<_>>(),
            )
            .field(
                "epochs",
                &self
                    .pseudonym_epochs
                    .iter()
                    .map(|(e, _)| *e)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// One wrapped encryption key version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedVersion {
    /// Version number, from 1.
    pub version: KeyVersion,
    /// Lifecycle state.
    pub state: KeyState,
    /// Creation time.
    pub created_unix_ms: i64,
    /// The key, wrapped by the root key; absent once retired or destroyed.
    #[serde(default)]
    pub key: Option<WrappedKey>,
}

/// One wrapped pseudonym epoch secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedEpoch {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// The secret, wrapped by the root key.
    pub key: WrappedKey,
}

/// The storable form of [`TenantKeys`]: every secret wrapped by the root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedTenantKeys {
    /// Numeric tenant id (bound into every wrapping context).
    pub tenant_id: u64,
    /// Encryption key ring.
    pub encryption: Vec<WrappedVersion>,
    /// Pseudonym secrets by epoch.
    pub pseudonym_epochs: Vec<WrappedEpoch>,
    /// Subject-handle secret.
    pub subject: WrappedKey,
    /// Signing secret (audit checkpoints).
    pub signing: WrappedKey,
}

fn enc_context(tenant_id: u64, version: KeyVersion) -> String {
    format!("tenant/{tenant_id}/enc/v{version}")
}

fn epoch_context(tenant_id: u64, epoch: u32) -> String {
    format!("tenant/{tenant_id}/pseudonym/e{epoch}")
}

fn subject_context(tenant_id: u64) -> String {
    format!("tenant/{tenant_id}/subject")
}

fn signing_context(tenant_id: u64) -> String {
    format!("tenant/{tenant_id}/signing")
}

impl TenantKeys {
    /// Fresh random secrets for a new tenant: encryption version 1 (active), epoch 1.
    pub fn generate(tenant_id: u64, now_unix_ms: i64) -> Self {
        Self {
            tenant_id,
            encryption: vec![EncryptionVersion {
                version: 1,
                state: KeyState::Active,
                created_unix_ms: now_unix_ms,
                key: Some(SecretKey::generate()),
            }],
            pseudonym_epochs: vec![(1, SecretKey::generate())],
            subject: SecretKey::generate(),
            signing: SecretKey::generate(),
        }
    }

    /// Wraps every secret with the root key for storage.
    pub fn wrap(&self, root: &dyn RootKeyProvider) -> Result<WrappedTenantKeys, KmsError> {
        let encryption = self
            .encryption
            .iter()
            .map(|v| {
                Ok(WrappedVersion {
                    version: v.version,
                    state: v.state,
                    created_unix_ms: v.created_unix_ms,
                    key: v
                        .key
                        .as_ref()
                        .map(|k| root.wrap(k, &enc_context(self.tenant_id, v.version)))
                        .transpose()?,
                })
            })
            .collect::<Result<_, KmsError>>()?;
        let pseudonym_epochs = self
            .pseudonym_epochs
            .iter()
            .map(|(epoch, key)| {
                Ok(WrappedEpoch {
                    epoch: *epoch,
                    key: root.wrap(key, &epoch_context(self.tenant_id, *epoch))?,
                })
            })
            .collect::<Result<_, KmsError>>()?;
        Ok(WrappedTenantKeys {
            tenant_id: self.tenant_id,
            encryption,
            pseudonym_epochs,
            subject: root.wrap(&self.subject, &subject_context(self.tenant_id))?,
            signing: root.wrap(&self.signing, &signing_context(self.tenant_id))?,
        })
    }

    /// Unwraps stored secrets. Retired and destroyed versions keep their metadata only.
    pub fn unwrap(
        wrapped: &WrappedTenantKeys,
        root: &dyn RootKeyProvider,
    ) -> Result<Self, KmsError> {
        let tenant_id = wrapped.tenant_id;
        let encryption = wrapped
            .encryption
            .iter()
            .map(|v| {
                let live = matches!(v.state, KeyState::Active | KeyState::DecryptOnly);
                Ok(EncryptionVersion {
                    version: v.version,
                    state: v.state,
                    created_unix_ms: v.created_unix_ms,
                    key: match (&v.key, live) {
                        (Some(k), true) => {
                            Some(root.unwrap(k, &enc_context(tenant_id, v.version))?)
                        }
                        _ => None,
                    },
                })
            })
            .collect::<Result<_, KmsError>>()?;
        let pseudonym_epochs = wrapped
            .pseudonym_epochs
            .iter()
            .map(|e| {
                Ok((
                    e.epoch,
                    root.unwrap(&e.key, &epoch_context(tenant_id, e.epoch))?,
                ))
            })
            .collect::<Result<_, KmsError>>()?;
        Ok(Self {
            tenant_id,
            encryption,
            pseudonym_epochs,
            subject: root.unwrap(&wrapped.subject, &subject_context(tenant_id))?,
            signing: root.unwrap(&wrapped.signing, &signing_context(tenant_id))?,
        })
    }

    /// The tenant these secrets belong to.
    pub fn tenant_id(&self) -> u64 {
        self.tenant_id
    }

    /// Every encryption key version, with or without material: (version, state, creation time).
    pub fn versions(&self) -> Vec<(KeyVersion, KeyState, i64)> {
        self.encryption
            .iter()
            .map(|v| (v.version, v.state, v.created_unix_ms))
            .collect()
    }

    /// Adds a fresh random version and makes it the one new data is encrypted under; the
    /// previous active version becomes decrypt-only. Returns the new version.
    pub fn rotate(&mut self, now_unix_ms: i64) -> KeyVersion {
        let next = self
            .encryption
            .iter()
            .map(|v| v.version)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        for v in &mut self.encryption {
            if v.state == KeyState::Active {
                v.state = KeyState::DecryptOnly;
            }
        }
        self.encryption.push(EncryptionVersion {
            version: next,
            state: KeyState::Active,
            created_unix_ms: now_unix_ms,
            key: Some(SecretKey::generate()),
        });
        next
    }

    /// Destroys a non-active version: its material is erased and records under it can never be
    /// opened again. The active version must be rotated away first.
    pub fn destroy(&mut self, version: KeyVersion) -> Result<(), KmsError> {
        let v = self
            .encryption
            .iter_mut()
            .find(|v| v.version == version)
            .ok_or(KmsError::UnknownVersion(version))?;
        if v.state == KeyState::Active {
            return Err(KmsError::ActiveVersion(version));
        }
        v.state = KeyState::Destroyed;
        v.key = None;
        Ok(())
    }

    /// Retires every decrypt-only version older than `version` and erases its material (call
    /// once nothing is stored under them any more). Returns the versions retired.
    pub fn retire_before(&mut self, version: KeyVersion) -> Vec<KeyVersion> {
        let mut retired = Vec::new();
        for v in &mut self.encryption {
            if v.version < version && v.state == KeyState::DecryptOnly {
                v.state = KeyState::Retired;
                v.key = None;
                retired.push(v.version);
            }
        }
        retired
    }

    /// The version new data is encrypted under.
    pub fn active_version(&self) -> Option<KeyVersion> {
        self.encryption
            .iter()
            .find(|v| v.state == KeyState::Active)
            .map(|v| v.version)
    }

    /// The data key of `domain_id` under `version`, if that version still has material.
    pub fn data_key(&self, domain_id: u64, version: KeyVersion) -> Result<DataKey, KmsError> {
        let v = self
            .encryption
            .iter()
            .find(|v| {
                v.version == version && matches!(v.state, KeyState::Active | KeyState::DecryptOnly)
            })
            .and_then(|v| v.key.as_ref())
            .ok_or(KmsError::UnknownVersion(version))?;
        let key = derive_key(
            v,
            DerivedKeyPurpose::DataEncryption,
            self.tenant_id,
            domain_id,
        );
        Ok(DataKey::new(version, &key))
    }

    /// Makes sure a pseudonym secret for `epoch` exists (a fresh random one if not). Secrets are
    /// per tenant and epoch; each domain derives its own keys from them, so one domain moving to
    /// an epoch another domain already uses shares nothing with it.
    pub fn ensure_epoch(&mut self, epoch: u32) {
        if !self.pseudonym_epochs.iter().any(|(e, _)| *e == epoch) {
            self.pseudonym_epochs.push((epoch, SecretKey::generate()));
        }
    }

    /// A pseudonym key (MAC, blind index or FF1) of `domain_id` in `epoch`.
    pub fn pseudonym_key(
        &self,
        purpose: DerivedKeyPurpose,
        domain_id: u64,
        epoch: u32,
    ) -> Result<SecretKey, KmsError> {
        let (_, secret) = self
            .pseudonym_epochs
            .iter()
            .find(|(e, _)| *e == epoch)
            .ok_or(KmsError::UnknownVersion(epoch))?;
        Ok(derive_key(secret, purpose, self.tenant_id, domain_id))
    }

    /// The Ed25519 key that signs this tenant's audit checkpoints (tenant 0: the operator
    /// chain's).
    pub fn audit_signing_key(&self) -> SigningKey {
        SigningKey::from_seed(&derive_key(
            &self.signing,
            DerivedKeyPurpose::AuditSigning,
            self.tenant_id,
            0,
        ))
    }

    /// The Ed25519 key that signs the tenant's consent receipts (derived from the signing secret
    /// with its own label, so it is not the audit key).
    pub fn receipt_signing_key(&self) -> SigningKey {
        SigningKey::from_seed(&derive_key(
            &self.signing,
            DerivedKeyPurpose::ReceiptSigning,
            self.tenant_id,
            0,
        ))
    }

    /// The key that authenticates the tenant's stored rows that decide authorisation (tenant 0:
    /// the operators'). From the signing secret, which a rotation keeps, so rows stay valid.
    pub fn row_integrity_key(&self) -> SecretKey {
        derive_key(
            &self.signing,
            DerivedKeyPurpose::RowIntegrity,
            self.tenant_id,
            0,
        )
    }

    /// The key that orders `domain_id`'s format-preserving serials (stable for the tenant's life).
    pub fn serial_order_key(&self, domain_id: u64) -> SecretKey {
        derive_key(
            &self.subject,
            DerivedKeyPurpose::SerialOrder,
            self.tenant_id,
            domain_id,
        )
    }

    /// The tenant-wide subject-handle key.
    pub fn subject_key(&self) -> SecretKey {
        derive_key(
            &self.subject,
            DerivedKeyPurpose::SubjectHandle,
            self.tenant_id,
            0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{envelope::AadContext, providers::file::FileRootKeyProvider};

    #[test]
    fn wrap_unwrap_round_trip_keeps_every_derived_key() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = FileRootKeyProvider::open_or_create(&dir.path().join("root.key")).unwrap();
        let keys = TenantKeys::generate(7, 0);
        let wrapped = keys.wrap(&root).unwrap();
        let back = TenantKeys::unwrap(&wrapped, &root).unwrap();
        assert_eq!(back.active_version(), Some(1));
        let ctx = AadContext {
            tenant_id: 7,
            domain_id: 3,
            record: b"p",
            bound: b"",
        };
        let ct = keys
            .data_key(3, 1)
            .and_then(|k| k.seal(&ctx, b"secret"))
            .unwrap_or_default();
        let pt = back
            .data_key(3, 1)
            .and_then(|k| k.open(&ctx, &ct))
            .map(|p| p.expose_secret().to_vec());
        assert_eq!(pt.ok(), Some(b"secret".to_vec()));
        assert_eq!(
            keys.pseudonym_key(DerivedKeyPurpose::PseudonymMac, 3, 1)
                .ok(),
            back.pseudonym_key(DerivedKeyPurpose::PseudonymMac, 3, 1)
                .ok()
        );
        assert_eq!(keys.subject_key(), back.subject_key());
    }

    #[test]
    fn wrapped_keys_are_bound_to_their_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = FileRootKeyProvider::open_or_create(&dir.path().join("root.key")).unwrap();
        let mut wrapped = TenantKeys::generate(7, 0).wrap(&root).unwrap();
        wrapped.tenant_id = 8;
        assert!(TenantKeys::unwrap(&wrapped, &root).is_err());
    }

    #[test]
    fn rotation_keeps_old_data_readable_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = FileRootKeyProvider::open_or_create(&dir.path().join("root.key")).unwrap();
        let mut keys = TenantKeys::generate(3, 0);
        let v1 = keys.data_key(9, 1).unwrap();
        assert_eq!(keys.rotate(5), 2);
        assert_eq!(keys.active_version(), Some(2));
        // Both open; the round trip through wrapping keeps states and material.
        let back = TenantKeys::unwrap(&keys.wrap(&root).unwrap(), &root).unwrap();
        assert_eq!(
            back.versions(),
            vec![(1, KeyState::DecryptOnly, 0), (2, KeyState::Active, 5)]
        );
        assert!(
            back.data_key(9, 1)
                .is_ok_and(|k| k.version() == v1.version())
        );
        assert_eq!(keys.retire_before(2), vec![1]);
        assert!(keys.data_key(9, 1).is_err());
        let wrapped = keys.wrap(&root).unwrap();
        assert!(
            wrapped.encryption[0].key.is_none(),
            "retired material is erased"
        );
        let back = TenantKeys::unwrap(&wrapped, &root).unwrap();
        assert_eq!(back.versions()[0].1, KeyState::Retired);
        assert!(back.data_key(9, 2).is_ok());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let keys = TenantKeys::generate(7, 0);
        let text = format!("{keys:?}");
        assert!(text.contains("TenantKeys"));
        assert!(!text.contains(&hex::encode(keys.subject.expose_secret())));
    }
}
