//! Consent state and the re-identification rule of docs/concepts.md, as pure functions.
//!
//! The consent history of a (subject, purpose) pair is append-only; its current state is derived
//! from the latest event and the time. The rule decides one verdict per pseudonym.

use serde::{Deserialize, Serialize};

pub use crate::model::{ConsentEvent, ConsentEventKind};

/// The current state of a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentStatus {
    /// Never granted.
    None,
    /// Granted and valid now.
    Granted,
    /// Withdrawn after the last grant.
    Withdrawn,
    /// Granted, but its validity has ended.
    Expired,
}

/// The state at `now_ms`, from the latest event of the history.
pub fn status(latest: Option<&ConsentEvent>, now_ms: i64) -> ConsentStatus {
    match latest {
        None => ConsentStatus::None,
        Some(e) if e.kind == ConsentEventKind::Withdrawn => ConsentStatus::Withdrawn,
        Some(e) if e.valid_until_ms != 0 && e.valid_until_ms <= now_ms => ConsentStatus::Expired,
        Some(_) => ConsentStatus::Granted,
    }
}

/// The outcome for one pseudonym of a `ReIdentify` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Identifier released.
    Released,
    /// Consent needed and none (or too old a text version) held.
    NoConsent,
    /// Consent withdrawn.
    ConsentWithdrawn,
    /// Consent expired.
    ConsentExpired,
    /// No such live mapping.
    NotFound,
    /// The principal may not re-identify for this purpose.
    Denied,
    /// The ciphertext's key version was destroyed: the identifier is gone.
    KeyDestroyed,
    /// Processing of the subject is restricted (GDPR Art. 18).
    Restricted,
}

/// What the rule needs to know about the purpose.
#[derive(Debug, Clone, Copy)]
pub struct PurposeRule {
    /// Legal basis is consent.
    pub needs_consent: bool,
    /// Minimum accepted consent text version.
    pub min_text_version: u32,
}
