//! Pseudonym schemes: how a domain turns a normalised identifier into a pseudonym.
//!
//! - `keyed`: HMAC-SHA256 under the domain's MAC key, truncated to 128 bits; 26 lower-case base32
//!   characters. Deterministic in a domain and epoch; unlinkable across domains and tenants
//!   because each has its own HKDF-derived key. Collisions: n²/2^129 ≈ 10^-19 at 10^10 mappings.
//! - `random`: 128 fresh random bits in the same text form; the blind index (HMAC under a
//!   separate key) finds the token again for the same identifier.
//! - `format-preserving`: FF1 (NIST SP 800-38G, `fpe` crate) with radix 10 over the identifier's
//!   digits; check digits are recomputed so the pseudonym passes the format's own checks
//!   (cycle-walking where a check digit may not exist), and it keeps the identifier's shape.

use aes::Aes256;
use data_encoding::BASE32_NOPAD;
use fpe::ff1::{FF1, FlexibleNumeralString};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use valv_kms::SecretKey;

use super::identifier::IdentifierKind;

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
    kind: IdentifierKind,
    mac: Hmac<Sha256>,
    ff1: Option<FF1<Aes256>>,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PseudonymKey({}, REDACTED)", self.scheme.as_str())
    }
}

/// Why a key could not be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedKind;

impl PseudonymKey {
    /// Prepares `key` (the MAC key for `keyed`, blind-index key for `random`, FF1 key for
    /// `format-preserving`).
    pub fn new(
        scheme: Scheme,
        kind: IdentifierKind,
        key: &SecretKey,
    ) -> Result<Self, UnsupportedKind> {
        // ok: HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret()).expect("any key length");
        let ff1 = match scheme {
            Scheme::FormatPreserving if kind.supports_format_preserving() => {
                Some(FF1::<Aes256>::new(key.expose_secret(), 10).map_err(|_| UnsupportedKind)?)
            }
            Scheme::FormatPreserving => return Err(UnsupportedKind),
            _ => None,
        };
        Ok(Self {
            scheme,
            kind,
            mac,
            ff1,
        })
    }

    fn mac16(&self, normalised: &[u8]) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(normalised);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag[..16]);
        out
    }

    /// The deterministic pseudonym (`keyed`, `format-preserving`); `None` for `random`.
    pub fn derive(&self, normalised: &[u8]) -> Option<Pseudonym> {
        match self.scheme {
            Scheme::Keyed => Some(Pseudonym(self.mac16(normalised).to_vec())),
            Scheme::Random => None,
            Scheme::FormatPreserving => self.format_preserving(normalised),
        }
    }

    /// The blind-index entry of a `random` domain (HMAC under the blind-index key).
    pub fn blind_index(&self, normalised: &[u8]) -> [u8; 16] {
        self.mac16(normalised)
    }

    fn ff1_digits(&self, digits: &[u16]) -> Option<Vec<u16>> {
        let ff1 = self.ff1.as_ref()?;
        let out = ff1
            .encrypt(b"valv", &FlexibleNumeralString::from(digits.to_vec()))
            .ok()?;
        Some(Vec::from(out))
    }

    fn format_preserving(&self, normalised: &[u8]) -> Option<Pseudonym> {
        let text = std::str::from_utf8(normalised).ok()?;
        let digit_of = |c: char| c.to_digit(10).and_then(|d| u16::try_from(d).ok());
        let to_str = |d: &[u16]| {
            d.iter()
                .map(|x| char::from(b'0' + u8::try_from(*x).unwrap_or(0)))
                .collect::<String>()
        };
        let out = match self.kind {
            IdentifierKind::SePersonnummer => {
                // FF1 over the 11 digits before the check digit, then a correct Luhn digit.
                let d: Vec<u16> = text.chars().take(11).filter_map(digit_of).collect();
                let e = self.ff1_digits(&d)?;
                let nine: Vec<u32> = e[2..11].iter().map(|x| u32::from(*x)).collect();
                format!(
                    "{}{}",
                    to_str(&e),
                    super::identifier::luhn_check_digit(&nine)
                )
            }
            IdentifierKind::NoFodselsnummer => {
                // Cycle-walk FF1 over the nine digits until both check digits exist: a
                // permutation of the set of nine-digit prefixes that have check digits.
                let mut d: Vec<u16> = text.chars().take(9).filter_map(digit_of).collect();
                loop {
                    d = self.ff1_digits(&d)?;
                    let nine: Vec<u32> = d.iter().map(|x| u32::from(*x)).collect();
                    if let Some((k1, k2)) = super::identifier::no_check_digits(&nine) {
                        break format!("{}{k1}{k2}", to_str(&d));
                    }
                }
            }
            IdentifierKind::DkCpr | IdentifierKind::Phone => {
                let (prefix, rest) = text.strip_prefix('+').map_or(("", text), |r| ("+", r));
                let d: Vec<u16> = rest.chars().filter_map(digit_of).collect();
                format!("{prefix}{}", to_str(&self.ff1_digits(&d)?))
            }
            IdentifierKind::FiHetu => {
                let nine: Vec<u16> = text[..6]
                    .chars()
                    .chain(text[7..10].chars())
                    .filter_map(digit_of)
                    .collect();
                let e = to_str(&self.ff1_digits(&nine)?);
                let check = char::from(super::identifier::hetu_check_char(&e));
                format!("{}{}{}{check}", &e[..6], &text[6..7], &e[6..9])
            }
            IdentifierKind::Opaque | IdentifierKind::Email => return None,
        };
        Some(Pseudonym(out.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{date::Date, identifier::normalise};

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
    fn format_preserving_keeps_the_shape_and_passes_the_checks() {
        let today = Date {
            year: 2026,
            month: 11,
            day: 23,
        };
        let cases = [
            (IdentifierKind::SePersonnummer, "200311161632"),
            (IdentifierKind::NoFodselsnummer, "04110657264"),
            (IdentifierKind::DkCpr, "0707614285"),
            (IdentifierKind::FiHetu, "131052-308T"),
            (IdentifierKind::Phone, "+46701234567"),
        ];
        for (kind, id) in cases {
            let k = key(Scheme::FormatPreserving, kind, 9);
            let p = k
                .derive(id.as_bytes())
                .map(|p| p.declassify(Scheme::FormatPreserving))
                .unwrap_or_default();
            assert_eq!(p.len(), id.len(), "{kind:?}");
            assert_ne!(p, id);
            assert_eq!(
                Some(p.clone()),
                k.derive(id.as_bytes())
                    .map(|p| p.declassify(Scheme::FormatPreserving))
            );
            match kind {
                // Check digits are correct (the date part may not be a real date).
                IdentifierKind::SePersonnummer => {
                    let d: Vec<u32> = p.chars().filter_map(|c| c.to_digit(10)).collect();
                    assert_eq!(
                        crate::engine::identifier::luhn_check_digit(&d[2..11]),
                        d[11]
                    );
                }
                IdentifierKind::NoFodselsnummer => {
                    let d: Vec<u32> = p.chars().filter_map(|c| c.to_digit(10)).collect();
                    assert_eq!(
                        crate::engine::identifier::no_check_digits(&d[..9]),
                        Some((d[9], d[10]))
                    );
                }
                IdentifierKind::FiHetu => {
                    assert_eq!(&p[6..7], "-");
                    let nine = format!("{}{}", &p[..6], &p[7..10]);
                    assert_eq!(
                        p.as_bytes()[10],
                        crate::engine::identifier::hetu_check_char(&nine)
                    );
                }
                IdentifierKind::Phone => assert!(p.starts_with('+')),
                _ => {}
            }
            let _ = normalise(kind, id, today, 64);
        }
        assert!(
            PseudonymKey::new(
                Scheme::FormatPreserving,
                IdentifierKind::Email,
                &SecretKey::from_bytes([1; 32])
            )
            .is_err()
        );
    }

    #[test]
    fn format_preserving_is_injective_on_a_sample() {
        let k = key(Scheme::FormatPreserving, IdentifierKind::DkCpr, 3);
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000u32 {
            let id = format!("0101{:02}{:04}", i % 100, i);
            assert!(seen.insert(k.derive(id.as_bytes()).map(|p| p.0)));
        }
    }
}
