//! AES-256-GCM envelopes for stored identifiers and other tenant data.
//!
//! # Ciphertext format
//! ```text
//! 0x01, 0x02 or 0x03 | key version (u32 BE) | salt (24 random bytes) | AES-256-GCM ciphertext | tag (16)
//! ```
//! `0x02` and `0x03` mark a ciphertext whose AAD also binds the row's governing fields (see
//! below); `0x03` tells the caller that it chose its second layout of those fields.
//! Every ciphertext carries its key version, so a ring with several versions knows which one
//! opens it, and a rotation job knows which records still need moving.
//!
//! # Nonce scheme: a fresh key per record
//! Random 96-bit nonces under one key allow only about 2^32 encryptions before the chance of a
//! repeated (key, nonce) pair becomes unacceptable (NIST SP 800-38D §8.3). Valv stores 10^10 and
//! more records under one domain key, so it never encrypts two records under the same AES key:
//! for each record it draws a 192-bit random salt and derives
//! `record key ‖ nonce = HKDF-Expand(PRK = domain data key, info = "valv/v1/record" ‖ salt, 44)`.
//! A (key, nonce) pair can only repeat if two salts repeat; with n = 10^10 records the chance is
//! at most n² / 2^193 ≈ 8 × 10^-39. Each record key encrypts one message, so the per-key limits of
//! GCM are never approached. The cost is two HMAC-SHA256 computations per encryption.
//!
//! # AAD
//! `"valv/v1/aad" ‖ tenant id ‖ domain id ‖ key version ‖ len(record key) ‖ record key`, with the
//! record key being the pseudonym: a ciphertext copied to another row, domain or tenant, or
//! relabelled with another version, fails to decrypt. Formats `0x02` and `0x03` append
//! `‖ len(bound) ‖ bound`: the fields of the row that decide release, so a row whose governing
//! fields were changed in the store fails to decrypt too. Format `0x03` also puts its own byte
//! into the AAD (before the bound): a ciphertext relabelled with another format fails, so an
//! older layout (`0x01`: no fields; `0x02`: the first layout) cannot be claimed for a newer
//! ciphertext, and an older ciphertext cannot be raised to a newer format without the key. [`DataKey::seal`] writes
//! `0x03` for a non-empty bound; [`bound_layout`] tells a reader which layout to rebuild.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use hkdf::Hkdf;
use rand::Rng;
use sha2::Sha256;

use crate::{error::KmsError, secret::SecretBytes, secret::SecretKey};

/// A key-ring version number (from 1).
pub type KeyVersion = u32;

const FORMAT: u8 = 0x01;
const FORMAT_BOUND_FIRST: u8 = 0x02;
const FORMAT_BOUND: u8 = 0x03;
const SALT_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a ciphertext adds to its plaintext.
pub const OVERHEAD: usize = 1 + 4 + SALT_LEN + TAG_LEN;

/// What a ciphertext is bound to. Every field goes into the AAD.
#[derive(Debug, Clone, Copy)]
pub struct AadContext<'a> {
    /// Numeric tenant id.
    pub tenant_id: u64,
    /// Numeric domain id (0 for tenant-wide data).
    pub domain_id: u64,
    /// The row's own key, e.g. the pseudonym bytes.
    pub record: &'a [u8],
    /// Fields of the row that decide what it releases, e.g. a mapping's subject handle, epoch
    /// and expiry (empty: none; the ciphertext is then format `0x01`).
    pub bound: &'a [u8],
}

impl AadContext<'_> {
    fn encode(&self, version: KeyVersion, format: u8) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(11 + 8 + 8 + 4 + 4 + self.record.len() + 1 + 4 + self.bound.len());
        aad.extend_from_slice(b"valv/v1/aad");
        aad.extend_from_slice(&self.tenant_id.to_be_bytes());
        aad.extend_from_slice(&self.domain_id.to_be_bytes());
        aad.extend_from_slice(&version.to_be_bytes());
        // Record keys are pseudonyms or small ids; a longer one is a programming error that
        // still encodes unambiguously because the length is saturated and the bytes follow.
        let len = u32::try_from(self.record.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(self.record);
        if format == FORMAT_BOUND {
            // From 0x03 on the format is authenticated itself, not only through what it adds.
            aad.push(format);
        }
        if format != FORMAT {
            let len = u32::try_from(self.bound.len()).unwrap_or(u32::MAX);
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(self.bound);
        }
        aad
    }
}

/// The data-encryption key of one domain under one key-ring version.
///
/// Holds the HKDF state keyed with the derived domain key, so per-record derivation does not
/// repeat the HMAC key schedule. Both are wiped on drop (`hmac`'s `zeroize` feature).
#[derive(Clone)]
pub struct DataKey {
    version: KeyVersion,
    hkdf: Hkdf<Sha256>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey(v{}, REDACTED)", self.version)
    }
}

impl DataKey {
    /// Wraps a derived domain data key (see [`crate::derive_key`]) of key-ring `version`.
    pub fn new(version: KeyVersion, key: &SecretKey) -> Self {
        // ok: a 32-byte PRK is exactly SHA-256's output length, the only length `from_prk` checks.
        #[allow(clippy::expect_used)]
        let hkdf = Hkdf::<Sha256>::from_prk(key.expose_secret()).expect("32-byte PRK");
        Self { version, hkdf }
    }

    /// The key-ring version this key belongs to.
    pub fn version(&self) -> KeyVersion {
        self.version
    }

    fn record_cipher(&self, salt: &[u8]) -> (Aes256Gcm, [u8; 12]) {
        let mut info = [0u8; 14 + SALT_LEN];
        info[..14].copy_from_slice(b"valv/v1/record");
        info[14..].copy_from_slice(salt);
        let mut okm = zeroize::Zeroizing::new([0u8; 44]);
        // ok: 44 bytes is far below HKDF-SHA256's 8160-byte limit.
        #[allow(clippy::expect_used)]
        self.hkdf
            .expand(&info, okm.as_mut())
            .expect("44-byte HKDF output");
        // ok: the slice is exactly 32 bytes, the AES-256 key length.
        #[allow(clippy::expect_used)]
        let cipher = Aes256Gcm::new_from_slice(&okm[..32]).expect("32-byte AES key");
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&okm[32..]);
        (cipher, nonce)
    }

    /// Encrypts `plaintext` bound to `context`. See the module docs for the format.
    pub fn seal(&self, context: &AadContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let format = if context.bound.is_empty() {
            FORMAT
        } else {
            FORMAT_BOUND
        };
        self.seal_as(format, context, plaintext)
    }

    fn seal_as(
        &self,
        format: u8,
        context: &AadContext<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let (cipher, nonce) = self.record_cipher(&salt);
        let aad = context.encode(self.version, format);
        let body = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| KmsError::Encrypt)?;
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(format);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts a ciphertext made by [`DataKey::seal`] with the same key and context.
    pub fn open(
        &self,
        context: &AadContext<'_>,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KmsError> {
        let version = ciphertext_version(ciphertext)?;
        if version != self.version {
            return Err(KmsError::UnknownVersion(version));
        }
        let salt = &ciphertext[5..5 + SALT_LEN];
        let body = &ciphertext[5 + SALT_LEN..];
        let (cipher, nonce) = self.record_cipher(salt);
        let aad = context.encode(version, ciphertext[0]);
        cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| KmsError::Decrypt)
    }
}

/// Which layout of bound fields a ciphertext was made with: 0 none (`0x01`), 1 the caller's
/// first layout (`0x02`), 2 its second (`0x03`, everything [`DataKey::seal`] writes now with a
/// non-empty bound). A reader rebuilds the bound in that layout; a relabelled format fails to
/// open, so this byte cannot be used to claim a weaker layout.
pub fn bound_layout(ciphertext: &[u8]) -> Result<u8, KmsError> {
    if ciphertext.len() < OVERHEAD {
        return Err(KmsError::Malformed("ciphertext too short"));
    }
    match ciphertext[0] {
        FORMAT => Ok(0),
        FORMAT_BOUND_FIRST => Ok(1),
        FORMAT_BOUND => Ok(2),
        _ => Err(KmsError::Malformed("unknown ciphertext format")),
    }
}

/// The key version a ciphertext was made under, without decrypting it.
pub fn ciphertext_version(ciphertext: &[u8]) -> Result<KeyVersion, KmsError> {
    if ciphertext.len() < OVERHEAD {
        return Err(KmsError::Malformed("ciphertext too short"));
    }
    bound_layout(ciphertext)?;
    let mut version = [0u8; 4];
    version.copy_from_slice(&ciphertext[1..5]);
    Ok(u32::from_be_bytes(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap_or_default()
    }

    /// NIST GCM test vectors (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases
    /// 13, 14 and 16 — the AES-256 ones), run through the same AES-256-GCM implementation.
    #[test]
    fn nist_aes_256_gcm_vectors() {
        let cases = [
            // (key, iv, plaintext, aad, ciphertext, tag)
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "00000000000000000000000000000000",
                "",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b",
            ),
        ];
        for (key, iv, pt, aad, ct, tag) in cases {
            let cipher = Aes256Gcm::new_from_slice(&h(key)).unwrap_or_else(|_| panic!("key"));
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&h(iv));
            let (pt, aad) = (h(pt), h(aad));
            let out = cipher
                .encrypt(
                    &nonce.into(),
                    Payload {
                        msg: &pt,
                        aad: &aad,
                    },
                )
                .unwrap_or_default();
            let mut expected = h(ct);
            expected.extend_from_slice(&h(tag));
            assert_eq!(out, expected);
            let back = cipher
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: &out,
                        aad: &aad,
                    },
                )
                .unwrap_or_default();
            assert_eq!(back, pt);
        }
    }

    fn key(version: KeyVersion) -> DataKey {
        DataKey::new(version, &SecretKey::from_bytes([version as u8; 32]))
    }

    #[test]
    fn a_bound_ciphertext_opens_only_with_its_bound_fields() {
        let k = key(1);
        let bound = AadContext {
            bound: b"subject-a",
            ..CTX
        };
        let ct = k.seal(&bound, b"x").unwrap_or_default();
        assert_eq!(ct[0], FORMAT_BOUND);
        assert!(k.open(&bound, &ct).is_ok());
        let swapped = AadContext {
            bound: b"subject-b",
            ..CTX
        };
        assert!(k.open(&swapped, &ct).is_err(), "another subject");
        // Relabelled as an unbound ciphertext, it does not open either.
        let mut relabelled = ct.clone();
        relabelled[0] = FORMAT;
        assert!(k.open(&bound, &relabelled).is_err());
        assert!(k.open(&CTX, &relabelled).is_err());
        // An unbound one opens whatever the caller binds (written before binding existed).
        let old = k.seal(&CTX, b"y").unwrap_or_default();
        assert_eq!(old[0], FORMAT);
        assert_eq!(bound_layout(&old).ok(), Some(0));
        assert!(k.open(&bound, &old).is_ok());
    }

    #[test]
    fn the_layout_byte_is_bound_too() {
        let k = key(1);
        let first = AadContext {
            bound: b"subject-a",
            ..CTX
        };
        let second = AadContext {
            bound: b"subject-a|epoch|expiry",
            ..CTX
        };
        // A ciphertext of the first layout (written by an earlier version) still opens with it.
        let old = k
            .seal_as(FORMAT_BOUND_FIRST, &first, b"x")
            .unwrap_or_default();
        assert_eq!(bound_layout(&old).ok(), Some(1));
        assert!(k.open(&first, &old).is_ok());
        assert!(k.open(&second, &old).is_err());
        let new = k.seal(&second, b"x").unwrap_or_default();
        assert_eq!(bound_layout(&new).ok(), Some(2));
        assert!(k.open(&second, &new).is_ok());
        // Claiming the first layout for a new ciphertext (to escape the later fields) fails,
        // and so does raising an old one.
        let mut lowered = new.clone();
        lowered[0] = FORMAT_BOUND_FIRST;
        assert!(k.open(&first, &lowered).is_err());
        assert!(k.open(&second, &lowered).is_err());
        let mut raised = old.clone();
        raised[0] = FORMAT_BOUND;
        assert!(k.open(&first, &raised).is_err());
        assert!(k.open(&second, &raised).is_err());
        let mut unknown = new;
        unknown[0] = 0x04;
        assert!(matches!(
            bound_layout(&unknown),
            Err(KmsError::Malformed(_))
        ));
    }

    const CTX: AadContext<'static> = AadContext {
        tenant_id: 1,
        domain_id: 2,
        record: b"pseudonym-a",
        bound: b"",
    };

    #[test]
    fn seal_open_round_trip_and_format() {
        let k = key(3);
        let ct = k.seal(&CTX, b"200311161632").unwrap_or_default();
        assert_eq!(ct.len(), 12 + OVERHEAD);
        assert_eq!(ciphertext_version(&ct).ok(), Some(3));
        let pt = k
            .open(&CTX, &ct)
            .map(|p| p.expose_secret().to_vec())
            .unwrap_or_default();
        assert_eq!(pt, b"200311161632");
        // Two encryptions of the same plaintext differ (fresh salt, fresh key).
        assert_ne!(ct, k.seal(&CTX, b"200311161632").unwrap_or_default());
    }

    #[test]
    fn aad_binds_tenant_domain_record_and_version() {
        let k = key(1);
        let ct = k.seal(&CTX, b"x").unwrap_or_default();
        for other in [
            AadContext {
                tenant_id: 9,
                ..CTX
            },
            AadContext {
                domain_id: 9,
                ..CTX
            },
            AadContext {
                record: b"pseudonym-b",
                ..CTX
            },
        ] {
            assert!(matches!(k.open(&other, &ct), Err(KmsError::Decrypt)));
        }
        // Relabelling the version byte: the ring would pick another key; with the same key bytes
        // the AAD still differs, so it fails.
        let mut relabelled = ct.clone();
        relabelled[4] = 2;
        let same_bytes_v2 = DataKey::new(2, &SecretKey::from_bytes([1; 32]));
        assert!(matches!(
            same_bytes_v2.open(&CTX, &relabelled),
            Err(KmsError::Decrypt)
        ));
        assert!(matches!(
            k.open(&CTX, &relabelled),
            Err(KmsError::UnknownVersion(2))
        ));
    }

    #[test]
    fn tampering_any_byte_fails() {
        let k = key(1);
        let ct = k.seal(&CTX, b"anna@example.se").unwrap_or_default();
        for i in 5..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(k.open(&CTX, &bad).is_err(), "byte {i}");
        }
        assert!(matches!(
            k.open(&CTX, &ct[..10]),
            Err(KmsError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let ct = key(1).seal(&CTX, b"x").unwrap_or_default();
        let other = DataKey::new(1, &SecretKey::from_bytes([0xEE; 32]));
        assert!(matches!(other.open(&CTX, &ct), Err(KmsError::Decrypt)));
    }
}
