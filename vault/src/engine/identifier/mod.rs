//! Identifier kinds: validation and normalisation before pseudonymisation.
//!
//! Normalisation makes every spelling of one person's identifier the same bytes
//! (`Anna@Example.se ` and `anna@example.se`), so the person gets one pseudonym. Validation
//! refuses what cannot be an identifier of the kind, naming the rule broken — never the value.
//! A checksum failure never becomes a pseudonym.

mod digits;
mod dk;
mod email;
mod fi;
mod no;
mod phone;
mod se;

use valv_kms::SecretBytes;

use super::date::Date;

pub use crate::model::IdentifierKind;

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

#[cfg(test)]
mod tests;

pub(crate) use fi::check_char as hetu_check_char;
pub(crate) use no::check_digits as no_check_digits;
