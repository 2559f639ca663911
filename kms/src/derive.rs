//! HKDF-SHA256 (RFC 5869) derivation of per-domain keys from tenant secrets.
//!
//! Every derived key is bound to what it is for (`DerivedKeyPurpose`) and to the tenant and domain
//! ids, so a key derived for one domain, tenant or use is unrelated to every other one.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::secret::SecretKey;

/// What a derived key is used for. Part of the HKDF `info`, so uses never share a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedKeyPurpose {
    /// Data-encryption key of a domain, from a tenant key-ring version.
    DataEncryption,
    /// MAC key of a `keyed` domain, from the pseudonym secret.
    PseudonymMac,
    /// Blind-index key of a `random` domain, from the pseudonym secret.
    BlindIndex,
    /// FF1 key of a `format-preserving` domain, from the pseudonym secret.
    FormatPreserving,
    /// Key of the tenant-wide subject handle, from the subject secret.
    SubjectHandle,
    /// FF1 key that permutes a `format-preserving` domain's serial numbers, from the subject
    /// secret (the same in every pseudonym epoch, so the serials of all epochs share it).
    SerialOrder,
    /// Ed25519 seed of the audit-checkpoint key, from the signing secret.
    AuditSigning,
    /// Ed25519 seed of the consent-receipt key, from the signing secret.
    ReceiptSigning,
    /// HMAC key that authenticates stored rows deciding authorisation, from the signing secret.
    RowIntegrity,
}

impl DerivedKeyPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::DataEncryption => b"dek",
            Self::PseudonymMac => b"mac",
            Self::BlindIndex => b"blind-index",
            Self::FormatPreserving => b"ff1",
            Self::SubjectHandle => b"subject-handle",
            Self::SerialOrder => b"serial-order",
            Self::AuditSigning => b"audit-signing",
            Self::ReceiptSigning => b"receipt-signing",
            Self::RowIntegrity => b"row-integrity",
        }
    }
}

/// Derives a 256-bit key: HKDF-SHA256 with no salt (the input is already uniformly random) and
/// `info = "valv/v1/" || purpose || 0x00 || tenant_id (u64 BE) || domain_id (u64 BE)`.
pub fn derive_key(
    ikm: &SecretKey,
    purpose: DerivedKeyPurpose,
    tenant_id: u64,
    domain_id: u64,
) -> SecretKey {
    let mut info = Vec::with_capacity(40);
    info.extend_from_slice(b"valv/v1/");
    info.extend_from_slice(purpose.label());
    info.push(0);
    info.extend_from_slice(&tenant_id.to_be_bytes());
    info.extend_from_slice(&domain_id.to_be_bytes());
    let mut okm = [0u8; 32];
    hkdf_sha256(None, ikm.expose_secret(), &info, &mut okm);
    SecretKey::from_bytes(okm)
}

/// Plain HKDF-SHA256 into `okm`. `okm` is at most 255 × 32 bytes in every caller, which is
/// HKDF's only failure condition.
pub(crate) fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    // ok: callers pass at most 64 bytes, far below HKDF's 8160-byte limit.
    #[allow(clippy::expect_used)]
    hk.expand(info, okm)
        .expect("HKDF output length is a small constant");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap_or_default()
    }

    // RFC 5869, Appendix A, test cases 1-3 (SHA-256).
    #[test]
    fn rfc5869_test_case_1() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = h("000102030405060708090a0b0c");
        let info = h("f0f1f2f3f4f5f6f7f8f9");
        let mut okm = [0u8; 42];
        hkdf_sha256(Some(&salt), &ikm, &info, &mut okm);
        assert_eq!(
            okm.to_vec(),
            h(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
    }

    #[test]
    fn rfc5869_test_case_2() {
        let ikm: Vec<u8> = (0x00..=0x4f).collect();
        let salt: Vec<u8> = (0x60..=0xaf).collect();
        let info: Vec<u8> = (0xb0..=0xff).collect();
        let mut okm = [0u8; 82];
        hkdf_sha256(Some(&salt), &ikm, &info, &mut okm);
        assert_eq!(
            okm.to_vec(),
            h(
                "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
               59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
               cc30c58179ec3e87c14c01d5c1f3434f1d87"
            )
        );
    }

    #[test]
    fn rfc5869_test_case_3() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let mut okm = [0u8; 42];
        hkdf_sha256(None, &ikm, b"", &mut okm);
        assert_eq!(
            okm.to_vec(),
            h(
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
            )
        );
    }

    #[test]
    fn derived_keys_are_separated_by_purpose_tenant_and_domain() {
        let ikm = SecretKey::from_bytes([7; 32]);
        let base = derive_key(&ikm, DerivedKeyPurpose::PseudonymMac, 1, 1);
        assert_eq!(
            base,
            derive_key(&ikm, DerivedKeyPurpose::PseudonymMac, 1, 1)
        );
        assert_ne!(base, derive_key(&ikm, DerivedKeyPurpose::BlindIndex, 1, 1));
        assert_ne!(
            base,
            derive_key(&ikm, DerivedKeyPurpose::PseudonymMac, 2, 1)
        );
        assert_ne!(
            base,
            derive_key(&ikm, DerivedKeyPurpose::PseudonymMac, 1, 2)
        );
    }
}
