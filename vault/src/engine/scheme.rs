//! Pseudonym schemes: how a domain turns a normalised identifier into a pseudonym.
//!
//! - `keyed`: HMAC-SHA256 under the domain's MAC key, truncated to 128 bits; 26 lower-case base32
//!   characters. Deterministic in a domain and epoch; unlinkable across domains and tenants
//!   because each has its own HKDF-derived key. Collisions: n²/2^129 ≈ 10^-19 at 10^10 mappings.
//! - `random`: 128 fresh random bits in the same text form; the blind index (HMAC under a
//!   separate key) finds the token again for the same identifier.
//! - `format-preserving`: a member of the identifier kind's reserved space (`engine::reserved`):
//!   the domain hands out serial numbers 0, 1, 2, … (an atomic store counter), and FF1 (NIST SP
//!   800-38G, `fpe` crate, radix 10) under the domain's order key permutes each serial into an
//!   index of the space; an index that is not a member is skipped. Serials are never reused, so
//!   two subjects never share a pseudonym and an erased one is never handed out again. The blind
//!   index finds the pseudonym again for the same identifier, as for `random`.

use aes::Aes256;
use data_encoding::BASE32_NOPAD;
use fpe::ff1::{FF1, FlexibleNumeralString};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use valv_kms::SecretKey;

use super::{
    identifier::IdentifierKind,
    reserved::{self, Space},
    subject::Tweak,
};

pub use crate::model::Scheme;

/// A pseudonym in its storage form (16 raw bytes for keyed/random, the digits for FF1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(pub Vec<u8>);

impl Pseudonym {
    /// The pseudonym's text form, safe to return and to log: it is a keyed one-way function (or a
    /// random token, or an FF1 encryption) of the identifier, and reveals nothing of it without
    /// the domain's keys.
    pub fn declassify(&self, scheme: Scheme) -> String {
        match scheme {
            Scheme::Keyed | Scheme::Random => BASE32_NOPAD.encode(&self.0).to_ascii_lowercase(),
            Scheme::FormatPreserving => String::from_utf8_lossy(&self.0).into_owned(),
        }
    }

    /// Parses a pseudonym's text form; `None` if it cannot be one of this scheme.
    pub fn parse(scheme: Scheme, text: &str) -> Option<Self> {
        match scheme {
            Scheme::Keyed | Scheme::Random => {
                if text.len() != 26 {
                    return None;
                }
                let bytes = BASE32_NOPAD
                    .decode(text.to_ascii_uppercase().as_bytes())
                    .ok()?;
                (bytes.len() == 16).then_some(Self(bytes))
            }
            Scheme::FormatPreserving => (!text.is_empty() && text.len() <= 32 && text.is_ascii())
                .then(|| Self(text.as_bytes().to_vec())),
        }
    }

    /// A fresh random token for the `random` scheme.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }
}

/// A domain's pseudonym key, prepared for its scheme. Key schedules are computed once.
pub struct PseudonymKey {
    scheme: Scheme,
    mac: Hmac<Sha256>,
    serials: Option<Serials>,
}

/// What turns a format-preserving domain's serial numbers into pseudonyms.
struct Serials {
    ff1: FF1<Aes256>,
    space: Space,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PseudonymKey({}, REDACTED)", self.scheme.as_str())
    }
}

/// Why a key could not be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedKind;

/// The FF1 tweak of the serial permutation.
const SERIAL_TWEAK: &[u8] = b"valv/v1/serial";

impl PseudonymKey {
    /// Prepares `key`: the MAC key for `keyed`, the blind-index key for `random` and
    /// `format-preserving` (which also needs [`PseudonymKey::with_serials`] to hand out new
    /// pseudonyms).
    pub fn new(
        scheme: Scheme,
        kind: IdentifierKind,
        key: &SecretKey,
    ) -> Result<Self, UnsupportedKind> {
        if scheme == Scheme::FormatPreserving && reserved::space(kind).is_none() {
            return Err(UnsupportedKind);
        }
        // ok: HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret()).expect("any key length");
        Ok(Self {
            scheme,
            mac,
            serials: None,
        })
    }

    /// Adds the domain's order key (format-preserving): the FF1 key that permutes serials into
    /// the reserved space. It is the same in every epoch, so serials of all epochs share one
    /// permutation and never meet.
    pub fn with_serials(
        mut self,
        kind: IdentifierKind,
        order_key: &SecretKey,
    ) -> Result<Self, UnsupportedKind> {
        let space = reserved::space(kind).ok_or(UnsupportedKind)?;
        let ff1 = FF1::<Aes256>::new(order_key.expose_secret(), 10).map_err(|_| UnsupportedKind)?;
        self.serials = Some(Serials { ff1, space });
        Ok(self)
    }

    fn mac16(&self, normalised: &[u8]) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(normalised);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        out
    }

    /// The deterministic pseudonym (`keyed`); `None` for schemes that allocate one.
    pub fn derive(&self, normalised: &[u8]) -> Option<Pseudonym> {
        match self.scheme {
            Scheme::Keyed => Some(Pseudonym(self.mac16(normalised).to_vec())),
            Scheme::Random | Scheme::FormatPreserving => None,
        }
    }

    /// The keyed pseudonym of a subject, under `erased` — the tweak of the subject's erasure
    /// tombstone — when there is one: HMAC under a key derived from the domain key and the
    /// tweak, so a subject pseudonymised again after an erasure gets a pseudonym unrelated to
    /// the erased one (and to any before it). `None` for schemes that allocate pseudonyms.
    pub fn derive_for(&self, normalised: &[u8], erased: Option<&Tweak>) -> Option<Pseudonym> {
        let Some(tweak) = erased else {
            return self.derive(normalised);
        };
        if self.scheme != Scheme::Keyed {
            return None;
        }
        let mut k = self.mac.clone();
        k.update(b"valv/v1/erased\0");
        k.update(tweak);
        let key = k.finalize().into_bytes();
        // ok: HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
        mac.update(normalised);
        let tag = mac.finalize().into_bytes();
        Some(Pseudonym(tag[..16].to_vec()))
    }

    /// The blind-index entry of a `random` or `format-preserving` domain.
    pub fn blind_index(&self, normalised: &[u8]) -> [u8; 16] {
        self.mac16(normalised)
    }

    /// The format-preserving pseudonym of serial number `serial`: `None` when the serial's
    /// image is not a member of the reserved space (skip it), or without an order key.
    pub fn allocate(&self, serial: u64) -> Option<Pseudonym> {
        let s = self.serials.as_ref()?;
        if serial >= s.space.bound() {
            return None;
        }
        let width = usize::try_from(s.space.digits()).ok()?;
        let digits: Vec<u16> = format!("{serial:0width$}")
            .bytes()
            .map(|b| u16::from(b - b'0'))
            .collect();
        let out = s
            .ff1
            .encrypt(SERIAL_TWEAK, &FlexibleNumeralString::from(digits))
            .ok()?;
        let index = Vec::from(out)
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(*d));
        s.space.encode(index).map(|t| Pseudonym(t.into_bytes()))
    }

    /// Serials below this can be allocated (format-preserving), and the share of them that
    /// give a pseudonym; `None` without an order key.
    pub fn serial_space(&self) -> Option<(u64, f64)> {
        let s = self.serials.as_ref()?.space;
        #[allow(clippy::cast_precision_loss)] // Both are below 2^53.
        Some((s.bound(), s.members() as f64 / s.bound() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scheme: Scheme, kind: IdentifierKind, b: u8) -> PseudonymKey {
        PseudonymKey::new(scheme, kind, &SecretKey::from_bytes([b; 32]))
            .unwrap_or_else(|_| panic!("key"))
    }

    #[test]
    fn keyed_is_deterministic_and_domain_separated() {
        let k1 = key(Scheme::Keyed, IdentifierKind::Email, 1);
        let k2 = key(Scheme::Keyed, IdentifierKind::Email, 2);
        let a = k1.derive(b"anna@example.se");
        assert_eq!(a, k1.derive(b"anna@example.se"));
        assert_ne!(a, k2.derive(b"anna@example.se"));
        assert_ne!(a, k1.derive(b"bo@example.se"));
        let text = a.map(|p| p.declassify(Scheme::Keyed)).unwrap_or_default();
        assert_eq!(text.len(), 26);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(
            Pseudonym::parse(Scheme::Keyed, &text).map(|p| p.declassify(Scheme::Keyed)),
            Some(text)
        );
        assert!(Pseudonym::parse(Scheme::Keyed, "not-a-pseudonym").is_none());
    }

    #[test]
    fn format_preserving_serials_give_distinct_members_of_the_reserved_space() {
        for kind in [
            IdentifierKind::NoFodselsnummer,
            IdentifierKind::FiHetu,
            IdentifierKind::DkCpr,
        ] {
            let k = key(Scheme::FormatPreserving, kind, 9)
                .with_serials(kind, &SecretKey::from_bytes([4; 32]))
                .unwrap();
            assert_eq!(k.derive(b"04110657264"), None);
            let (bound, share) = k.serial_space().unwrap();
            let mut seen = std::collections::HashSet::new();
            let mut given = 0;
            for serial in 0..5_000u64 {
                if let Some(p) = k.allocate(serial) {
                    given += 1;
                    let text = p.declassify(Scheme::FormatPreserving);
                    assert!(seen.insert(text.clone()), "{kind:?} {text}");
                    assert_eq!(Pseudonym::parse(Scheme::FormatPreserving, &text), Some(p));
                }
            }
            // About the share the space predicts (binomial, 5,000 draws).
            #[allow(clippy::cast_precision_loss)]
            let got = f64::from(given) / 5_000.0;
            assert!((got - share).abs() < 0.05, "{kind:?}: {got} vs {share}");
            assert_eq!(k.allocate(bound), None);
            // Another order key is another permutation.
            let other = key(Scheme::FormatPreserving, kind, 9)
                .with_serials(kind, &SecretKey::from_bytes([5; 32]))
                .unwrap();
            let a: Vec<_> = (0..200).filter_map(|s| k.allocate(s)).collect();
            let b: Vec<_> = (0..200).filter_map(|s| other.allocate(s)).collect();
            assert_ne!(a, b);
        }
        for kind in [
            IdentifierKind::SePersonnummer,
            IdentifierKind::Phone,
            IdentifierKind::Email,
            IdentifierKind::Opaque,
        ] {
            assert!(
                PseudonymKey::new(
                    Scheme::FormatPreserving,
                    kind,
                    &SecretKey::from_bytes([1; 32])
                )
                .is_err()
            );
        }
    }
}
