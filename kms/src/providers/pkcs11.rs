//! The `pkcs11` root key provider: the root key is an AES-256 key generated inside a hardware
//! security module (any PKCS#11 token; CI uses SoftHSM2) as sensitive and non-extractable, so
//! its bytes never exist outside the token. Wrapping a tenant secret is `C_Encrypt` with
//! `CKM_AES_GCM` inside the token (random 96-bit IV, the caller's context as associated data);
//! unwrapping is `C_Decrypt`. Through the `cryptoki` crate.
//!
//! The key is found by its label (`CKA_LABEL`, default `valv-root`); its key id is the token's
//! random `CKA_ID`. A root-key rotation generates `<label>.next`, re-wraps every key ring under
//! it, destroys the old key object and relabels the new one ([`RootKeySlot`]); a crash between
//! the last two steps is finished on the next start.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Pkcs11},
    error::{Error as CkError, RvError},
    mechanism::{Mechanism, aead::GcmParams},
    object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
    session::{Session, UserType},
    slot::Slot,
    types::{AuthPin, Ulong},
};
use rand::Rng;
use zeroize::Zeroizing;

use super::{RootKeyProvider, RootKeySlot, WrappedKey};
use crate::{error::KmsError, secret::SecretKey};

/// Where the root key lives in a PKCS#11 token.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// Label of the token that holds the key.
    pub token_label: String,
    /// The token's user PIN.
    pub pin: Zeroizing<String>,
    /// Label of the root key object.
    pub key_label: String,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

fn ck(what: &str) -> impl Fn(CkError) -> KmsError + '_ {
    move |e| KmsError::Pkcs11(format!("{what}: {e}"))
}

/// Serialises every call into one module. Root-key operations are rare (key-ring loads and
/// rotations), and SoftHSM2 was seen to answer attribute reads of a key another thread was
/// generating at the same moment wrongly; one call at a time costs nothing measurable.
type ModuleLock = Arc<Mutex<()>>;

/// A module may be initialised once per process: contexts are shared by module path.
fn context(module: &Path) -> Result<(Pkcs11, ModuleLock), KmsError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, (Pkcs11, ModuleLock)>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| KmsError::Pkcs11("context cache poisoned".into()))?;
    if let Some(ctx) = contexts.get(module) {
        return Ok((ctx.0.clone(), Arc::clone(&ctx.1)));
    }
    let ctx = Pkcs11::new(module)
        .map_err(|e| KmsError::Pkcs11(format!("loading {}: {e}", module.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck("C_Initialize")(e)),
    }
    let lock = ModuleLock::default();
    contexts.insert(module.to_path_buf(), (ctx.clone(), Arc::clone(&lock)));
    Ok((ctx, lock))
}

/// The token named in a [`Pkcs11Config`], logged in.
pub struct Pkcs11Slot {
    config: Pkcs11Config,
    ctx: Pkcs11,
    lock: ModuleLock,
    slot: Slot,
}

impl std::fmt::Debug for Pkcs11Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Slot")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Slot {
    /// Loads the module and finds the token by its label.
    pub fn open(config: Pkcs11Config) -> Result<Self, KmsError> {
        let (ctx, lock) = context(&config.module)?;
        let guard = lock
            .lock()
            .map_err(|_| KmsError::Pkcs11("module lock poisoned".into()))?;
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(ck("listing slots"))?;
        let mut found = None;
        for slot in slots {
            let info = ctx.get_token_info(slot).map_err(ck("reading token info"))?;
            if info.label().trim_end() == config.token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            KmsError::Pkcs11(format!(
                "no initialised token labelled `{}` in {}",
                config.token_label,
                config.module.display()
            ))
        })?;
        drop(guard);
        Ok(Self {
            config,
            ctx,
            lock,
            slot,
        })
    }

    fn session(&self) -> Result<Session, KmsError> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(ck("opening a session"))?;
        let pin = AuthPin::from(self.config.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(ck("logging in to the token")(e)),
        }
    }

    fn module(&self) -> Result<std::sync::MutexGuard<'_, ()>, KmsError> {
        self.lock
            .lock()
            .map_err(|_| KmsError::Pkcs11("module lock poisoned".into()))
    }

    fn next_label(&self) -> String {
        format!("{}.next", self.config.key_label)
    }

    fn find(session: &Session, label: &str) -> Result<Vec<ObjectHandle>, KmsError> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(ck("finding the root key"))
    }

    fn generate(session: &Session, label: &str) -> Result<ObjectHandle, KmsError> {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(Ulong::from(32u64)),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(id.to_vec()),
                ],
            )
            .map_err(ck("generating the root key in the token"))
    }

    fn key(&self, session: Session, handle: ObjectHandle) -> Result<Pkcs11RootKey, KmsError> {
        let attributes = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Id,
                    AttributeType::Extractable,
                    AttributeType::Sensitive,
                ],
            )
            .map_err(ck("reading the root key's attributes"))?;
        let mut key_id = None;
        for attribute in attributes {
            match attribute {
                Attribute::Id(id) if !id.is_empty() => key_id = Some(hex::encode(id)),
                Attribute::Extractable(true) | Attribute::Sensitive(false) => {
                    return Err(KmsError::Pkcs11(format!(
                        "the key labelled `{}` is extractable or not sensitive; Valv uses only keys that cannot leave the token",
                        self.config.key_label
                    )));
                }
                _ => {}
            }
        }
        let key_id = key_id.ok_or_else(|| {
            KmsError::Pkcs11("the root key has no CKA_ID to tell it apart by".into())
        })?;
        Ok(Pkcs11RootKey {
            lock: Arc::clone(&self.lock),
            session: Mutex::new(session),
            handle,
            key_id,
        })
    }

    fn one(handles: Vec<ObjectHandle>, label: &str) -> Result<Option<ObjectHandle>, KmsError> {
        match handles.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(KmsError::Pkcs11(format!(
                "several keys in the token are labelled `{label}`; expected one"
            ))),
        }
    }
}

impl RootKeySlot for Pkcs11Slot {
    fn describe(&self) -> String {
        format!(
            "pkcs11 token `{}` key `{}` ({})",
            self.config.token_label,
            self.config.key_label,
            self.config.module.display()
        )
    }

    fn current(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        let _module = self.module()?;
        let session = self.session()?;
        let label = &self.config.key_label;
        let handle = match Self::one(Self::find(&session, label)?, label)? {
            Some(h) => h,
            None => match Self::one(Self::find(&session, &self.next_label())?, label)? {
                // A rotation destroyed the old key but stopped before relabelling the new one.
                Some(next) => {
                    session
                        .update_attributes(next, &[Attribute::Label(label.as_bytes().to_vec())])
                        .map_err(ck("relabelling the new root key"))?;
                    next
                }
                None => {
                    tracing::warn!(token = %self.config.token_label, label = %label, "generating the root key inside the token (non-extractable)");
                    Self::generate(&session, label)?
                }
            },
        };
        Ok(Arc::new(self.key(session, handle)?))
    }

    fn next(&self, create: bool) -> Result<Option<Arc<dyn RootKeyProvider>>, KmsError> {
        let _module = self.module()?;
        let session = self.session()?;
        let label = self.next_label();
        let handle = match Self::one(Self::find(&session, &label)?, &label)? {
            Some(h) => h,
            None if create => Self::generate(&session, &label)?,
            None => return Ok(None),
        };
        Ok(Some(Arc::new(self.key(session, handle)?)))
    }

    fn promote_next(&self) -> Result<Arc<dyn RootKeyProvider>, KmsError> {
        let module = self.module()?;
        let session = self.session()?;
        let next = Self::one(
            Self::find(&session, &self.next_label())?,
            &self.next_label(),
        )?
        .ok_or_else(|| KmsError::Pkcs11("no incoming root key to promote".into()))?;
        for old in Self::find(&session, &self.config.key_label)? {
            session
                .destroy_object(old)
                .map_err(ck("destroying the old root key"))?;
        }
        session
            .update_attributes(
                next,
                &[Attribute::Label(self.config.key_label.as_bytes().to_vec())],
            )
            .map_err(ck("relabelling the new root key"))?;
        drop(session);
        drop(module);
        self.current()
    }

    fn key_ids(&self) -> Result<Vec<String>, KmsError> {
        let _module = self.module()?;
        let session = self.session()?;
        let mut ids = Vec::new();
        for label in [self.config.key_label.clone(), self.next_label()] {
            for handle in Self::find(&session, &label)? {
                for attribute in session
                    .get_attributes(handle, &[AttributeType::Id])
                    .map_err(ck("reading a key id"))?
                {
                    if let Attribute::Id(id) = attribute {
                        ids.push(hex::encode(id));
                    }
                }
            }
        }
        Ok(ids)
    }
}

/// A root key object inside the token, with a logged-in session of its own.
pub struct Pkcs11RootKey {
    lock: ModuleLock,
    session: Mutex<Session>,
    handle: ObjectHandle,
    key_id: String,
}

impl Pkcs11RootKey {
    fn aad(context: &str) -> Vec<u8> {
        let mut aad = b"valv/v1/wrap/".to_vec();
        aad.extend_from_slice(context.as_bytes());
        aad
    }

    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, KmsError> {
        self.session
            .lock()
            .map_err(|_| KmsError::Pkcs11("session lock poisoned".into()))
    }

    fn module(&self) -> Result<std::sync::MutexGuard<'_, ()>, KmsError> {
        self.lock
            .lock()
            .map_err(|_| KmsError::Pkcs11("module lock poisoned".into()))
    }
}

impl RootKeyProvider for Pkcs11RootKey {
    fn name(&self) -> &'static str {
        "pkcs11"
    }

    fn fit_for_production(&self) -> bool {
        true
    }

    fn root_key_id(&self) -> String {
        self.key_id.clone()
    }

    fn wrap(&self, secret: &SecretKey, context: &str) -> Result<WrappedKey, KmsError> {
        let _module = self.module()?;
        let mut iv = [0u8; 12];
        rand::rng().fill_bytes(&mut iv);
        let aad = Self::aad(context);
        let body = {
            let params =
                GcmParams::new(&mut iv, &aad, Ulong::from(128u64)).map_err(ck("GCM parameters"))?;
            self.session()?
                .encrypt(
                    &Mechanism::AesGcm(params),
                    self.handle,
                    secret.expose_secret(),
                )
                .map_err(ck("wrapping in the token"))?
        };
        let mut out = iv.to_vec();
        out.extend_from_slice(&body);
        Ok(WrappedKey {
            provider: self.name().to_owned(),
            root_key_id: self.key_id.clone(),
            wrapped_hex: hex::encode(out),
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<SecretKey, KmsError> {
        super::check_origin(self, wrapped)?;
        let bytes = hex::decode(&wrapped.wrapped_hex)
            .map_err(|_| KmsError::Malformed("wrapped key hex"))?;
        if bytes.len() != 12 + 32 + 16 {
            return Err(KmsError::Malformed("wrapped key length"));
        }
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&bytes[..12]);
        let aad = Self::aad(context);
        let params =
            GcmParams::new(&mut iv, &aad, Ulong::from(128u64)).map_err(ck("GCM parameters"))?;
        let _module = self.module()?;
        let plain = Zeroizing::new(
            self.session()?
                .decrypt(&Mechanism::AesGcm(params), self.handle, &bytes[12..])
                .map_err(|_| KmsError::Decrypt)?,
        );
        SecretKey::from_slice(&plain).ok_or(KmsError::Malformed("wrapped key length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token CI sets up (`.ci/softhsm`); skipped, saying so, when it is not configured.
    fn config(label: &str) -> Option<Pkcs11Config> {
        let module = std::env::var_os("VALV_TEST_PKCS11_MODULE")?;
        Some(Pkcs11Config {
            module: module.into(),
            token_label: std::env::var("VALV_TEST_PKCS11_TOKEN").unwrap_or("valv-test".into()),
            pin: Zeroizing::new(std::env::var("VALV_TEST_PKCS11_PIN").unwrap_or("1234".into())),
            key_label: format!("{label}-{:016x}", rand::rng().next_u64()),
        })
    }

    #[test]
    fn wraps_inside_the_token_and_rotates() {
        let Some(config) = config("unit") else {
            eprintln!("SKIPPED: VALV_TEST_PKCS11_MODULE is not set (see .ci/softhsm)");
            return;
        };
        let slot = Pkcs11Slot::open(config.clone()).unwrap();
        let root = slot.current().unwrap();
        assert!(root.fit_for_production());
        assert_eq!(root.root_key_id().len(), 16);
        let secret = SecretKey::generate();
        let wrapped = root.wrap(&secret, "tenant/1/enc/v1").unwrap();
        assert_eq!(wrapped.provider, "pkcs11");
        let again = Pkcs11Slot::open(config).and_then(|s| s.current()).unwrap();
        assert_eq!(again.root_key_id(), root.root_key_id());
        assert_eq!(
            again.unwrap(&wrapped, "tenant/1/enc/v1").ok(),
            Some(secret.clone())
        );
        assert!(matches!(
            again.unwrap(&wrapped, "tenant/2/enc/v1"),
            Err(KmsError::Decrypt)
        ));
        // One bit of the ciphertext flipped (setting a byte to a fixed value would leave it as
        // it was once in 256 runs, which CI met once).
        let mut tampered = wrapped.clone();
        let byte = u8::from_str_radix(&tampered.wrapped_hex[30..32], 16).unwrap_or(0) ^ 0x01;
        tampered
            .wrapped_hex
            .replace_range(30..32, &format!("{byte:02x}"));
        assert_ne!(tampered.wrapped_hex, wrapped.wrapped_hex);
        assert!(again.unwrap(&tampered, "tenant/1/enc/v1").is_err());

        // Rotation: the next key is different; after promotion the old key is gone.
        assert!(slot.next(false).is_ok_and(|n| n.is_none()));
        let next = slot
            .next(true)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("next"));
        assert_ne!(next.root_key_id(), root.root_key_id());
        let promoted = slot.promote_next().unwrap();
        assert_eq!(promoted.root_key_id(), next.root_key_id());
        assert!(promoted.unwrap(&wrapped, "tenant/1/enc/v1").is_err());
        assert!(slot.next(false).is_ok_and(|n| n.is_none()));
        // The old key object is gone from the token.
        assert_eq!(slot.key_ids().ok(), Some(vec![promoted.root_key_id()]));
    }
}
