//! Identifier kinds: validation and normalisation before pseudonymisation.
//!
//! Normalisation makes every spelling of one person's identifier the same bytes
//! (`Anna@Example.se ` and `anna@example.se`), so the person gets one pseudonym. Validation
//! refuses what cannot be an identifier of the kind, naming the rule broken — never the value.
//! A checksum failure never becomes a pseudonym.

mod dk;
mod email;
mod fi;
mod no;
mod phone;
mod se;

use valv_kms::SecretBytes;

use super::date::Date;

/// How an identifier is validated and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    /// UTF-8 text as given.
    Opaque,
    /// E-mail address, trimmed and lower-cased.
    Email,
    /// E.164 telephone number.
    Phone,
    /// Swedish personnummer / samordningsnummer.
    SePersonnummer,
    /// Norwegian fødselsnummer / D-number.
    NoFodselsnummer,
    /// Danish CPR number.
    DkCpr,
    /// Finnish HETU.
    FiHetu,
}

impl IdentifierKind {
    /// True for national identity numbers that encode a birth date (the age-of-consent check
    /// needs one).
    pub fn carries_birth_date(self) -> bool {
        matches!(
            self,
            Self::SePersonnummer | Self::NoFodselsnummer | Self::DkCpr | Self::FiHetu
        )
    }

    /// The kind's name as used in rules, docs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::SePersonnummer => "se-personnummer",
            Self::NoFodselsnummer => "no-fodselsnummer",
            Self::DkCpr => "dk-cpr",
            Self::FiHetu => "fi-hetu",
        }
    }

    /// Whether the `format-preserving` scheme supports this kind (it needs digits to permute).
    pub fn supports_format_preserving(self) -> bool {
        !matches!(self, Self::Opaque | Self::Email)
    }
}

/// Why an identifier was refused: the kind and the rule, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidIdentifier {
    /// The kind that refused it.
    pub kind: IdentifierKind,
    /// The rule broken, e.g. `check digit`.
    pub rule: &'static str,
}

impl std::fmt::Display for InvalidIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.rule)
    }
}

/// A normalised identifier. Secret: wiped on drop, no `Debug` of the value.
#[derive(Debug)]
pub struct Normalised {
    /// The normal form's bytes (UTF-8).
    pub value: SecretBytes,
    /// The birth date, for kinds that carry one.
    pub birth_date: Option<Date>,
}

/// Validates and normalises `raw` as `kind`. `today` decides the century of 10-digit Swedish
/// numbers. `max_bytes` bounds the raw input.
pub fn normalise(
    kind: IdentifierKind,
    raw: &str,
    today: Date,
    max_bytes: usize,
) -> Result<Normalised, InvalidIdentifier> {
    let fail = |rule| InvalidIdentifier { kind, rule };
    if raw.len() > max_bytes {
        return Err(fail("longer than the server's identifier limit"));
    }
    let result = match kind {
        IdentifierKind::Opaque if raw.is_empty() => Err("empty"),
        IdentifierKind::Opaque => Ok((raw.to_owned(), None)),
        IdentifierKind::Email => email::normalise(raw).map(|v| (v, None)),
        IdentifierKind::Phone => phone::normalise(raw).map(|v| (v, None)),
        IdentifierKind::SePersonnummer => se::normalise(raw, today).map(|(v, d)| (v, Some(d))),
        IdentifierKind::NoFodselsnummer => no::normalise(raw).map(|(v, d)| (v, Some(d))),
        IdentifierKind::DkCpr => dk::normalise(raw).map(|(v, d)| (v, Some(d))),
        IdentifierKind::FiHetu => fi::normalise(raw).map(|(v, d)| (v, Some(d))),
    };
    result
        .map(|(value, birth_date)| Normalised {
            value: SecretBytes::from(value),
            birth_date,
        })
        .map_err(fail)
}

/// ASCII digits of `s` as numbers, or `None` if any character is not a digit.
fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars()
        .map(|c| c.to_digit(10).filter(|_| c.is_ascii_digit()))
        .collect()
}

/// Two ASCII digits as a number.
fn two(d: &[u32]) -> u32 {
    d[0] * 10 + d[1]
}

#[cfg(test)]
mod tests;

pub(crate) use fi::check_char as hetu_check_char;
pub(crate) use no::check_digits as no_check_digits;
pub(crate) use se::luhn_check_digit;
