//! Value types shared by the engine, the store and the use cases: identifier kinds, pseudonym
//! schemes, subject handles, consent events, and the records the vault stores
//! ([`records`]). Plain data with no I/O and no cryptography; every layer above may use them.

pub mod records;

use serde::{Deserialize, Serialize};

/// 128-bit subject handle.
pub type SubjectHandle = [u8; 16];

/// How an identifier is validated and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// Whether the `format-preserving` scheme supports this kind: it needs a part of the
    /// kind's space that no real person can have (`engine::reserved`).
    pub fn supports_format_preserving(self) -> bool {
        matches!(self, Self::NoFodselsnummer | Self::DkCpr | Self::FiHetu)
    }
}

/// How a domain makes pseudonyms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Deterministic keyed MAC.
    Keyed,
    /// Random token with a blind index.
    Random,
    /// A valid-shaped identifier from the kind's reserved space, through a blind index.
    FormatPreserving,
}

impl Scheme {
    /// The scheme's name as in the docs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyed => "keyed",
            Self::Random => "random",
            Self::FormatPreserving => "format-preserving",
        }
    }

    /// Whether the domain hands out pseudonyms it finds again through a blind index (`random`,
    /// `format-preserving`) rather than deriving them (`keyed`).
    pub fn allocates(self) -> bool {
        !matches!(self, Self::Keyed)
    }
}

/// What happened to a consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentEventKind {
    /// The subject consented.
    #[default]
    Granted,
    /// The subject withdrew consent.
    Withdrawn,
}

/// One entry of a consent history. Holds no identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// Position in the history, from 1.
    pub seq: u64,
    /// Granted or withdrawn.
    pub kind: ConsentEventKind,
    /// Consent text version (grants only).
    pub text_version: u32,
    /// How consent was given, e.g. `bankid`.
    pub method: String,
    /// When it was recorded.
    pub at_ms: i64,
    /// End of validity; 0 = none.
    pub valid_until_ms: i64,
    /// Principal id that recorded it.
    pub recorded_by: String,
    /// Grants: where consent was collected.
    #[serde(default)]
    pub channel: String,
    /// Grants: the signed receipt's id (hex).
    #[serde(default)]
    pub receipt_id: String,
    /// Grants: SHA-256 of the consent text agreed to (hex).
    #[serde(default)]
    pub text_sha256: String,
    /// Grants for a minor: the guardian's subject reference (`subject:<hex>`).
    #[serde(default)]
    pub guardian_ref: String,
    /// Grants: bytes of stored evidence (0: none, or no longer kept).
    #[serde(default)]
    pub evidence_bytes: u64,
    /// Grants: the evidence's media type as given.
    #[serde(default)]
    pub evidence_media_type: String,
    /// Grants: the domain the subject was named in.
    #[serde(default)]
    pub subject_domain: String,
    /// Grants: the subject's pseudonym there, where known.
    #[serde(default)]
    pub subject_pseudonym: String,
    /// HMAC over the event, its sequence number, subject and purpose under the tenant's
    /// row-integrity key (`engine::integrity::ConsentSealer`); every other field is covered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}
