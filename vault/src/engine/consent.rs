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

/// docs/concepts.md's re-identification rule for one item.
///
/// `allowed`: the principal holds `reidentifier` for this purpose. `live`: the mapping exists and
/// has not expired at `now_ms`. `restricted`: processing of the subject is restricted.
/// `latest`: the subject's latest consent event for the purpose.
pub fn decide(
    allowed: bool,
    live: bool,
    restricted: bool,
    purpose: PurposeRule,
    latest: Option<&ConsentEvent>,
    now_ms: i64,
) -> Verdict {
    if !allowed {
        return Verdict::Denied;
    }
    if !live {
        return Verdict::NotFound;
    }
    if restricted {
        return Verdict::Restricted;
    }
    if !purpose.needs_consent {
        return Verdict::Released;
    }
    match status(latest, now_ms) {
        ConsentStatus::None => Verdict::NoConsent,
        ConsentStatus::Withdrawn => Verdict::ConsentWithdrawn,
        ConsentStatus::Expired => Verdict::ConsentExpired,
        ConsentStatus::Granted => match latest {
            Some(e) if e.text_version >= purpose.min_text_version => Verdict::Released,
            _ => Verdict::NoConsent,
        },
    }
}

/// Whether a mapping with this expiry (0 = none) is live at `now_ms`.
pub fn mapping_live(expires_ms: i64, now_ms: i64) -> bool {
    expires_ms == 0 || now_ms < expires_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(version: u32, until: i64) -> ConsentEvent {
        ConsentEvent {
            seq: 1,
            kind: ConsentEventKind::Granted,
            text_version: version,
            method: "bankid".into(),
            at_ms: 0,
            valid_until_ms: until,
            recorded_by: "p".into(),
            ..ConsentEvent::default()
        }
    }

    const CONSENT: PurposeRule = PurposeRule {
        needs_consent: true,
        min_text_version: 2,
    };

    #[test]
    fn rule_table() {
        let g = grant(2, 1000);
        let w = ConsentEvent {
            kind: ConsentEventKind::Withdrawn,
            ..grant(2, 0)
        };
        assert_eq!(
            decide(false, true, false, CONSENT, Some(&g), 10),
            Verdict::Denied
        );
        assert_eq!(
            decide(true, false, false, CONSENT, Some(&g), 10),
            Verdict::NotFound
        );
        assert_eq!(
            decide(true, true, false, CONSENT, None, 10),
            Verdict::NoConsent
        );
        assert_eq!(
            decide(true, true, true, CONSENT, Some(&g), 10),
            Verdict::Restricted
        );
        assert_eq!(
            decide(true, false, true, CONSENT, Some(&g), 10),
            Verdict::NotFound
        );
        assert_eq!(
            decide(true, true, false, CONSENT, Some(&g), 999),
            Verdict::Released
        );
        assert_eq!(
            decide(true, true, false, CONSENT, Some(&g), 1000),
            Verdict::ConsentExpired
        );
        assert_eq!(
            decide(true, true, false, CONSENT, Some(&w), 10),
            Verdict::ConsentWithdrawn
        );
        assert_eq!(
            decide(true, true, false, CONSENT, Some(&grant(1, 0)), 10),
            Verdict::NoConsent
        );
        assert_eq!(
            decide(true, true, false, CONSENT, Some(&grant(3, 0)), i64::MAX),
            Verdict::Released
        );
        let contract = PurposeRule {
            needs_consent: false,
            min_text_version: 0,
        };
        assert_eq!(
            decide(true, true, false, contract, None, 10),
            Verdict::Released
        );
        assert_eq!(
            decide(false, true, false, contract, None, 10),
            Verdict::Denied
        );
    }

    #[test]
    fn mapping_expiry() {
        assert!(mapping_live(0, i64::MAX));
        assert!(mapping_live(100, 99));
        assert!(!mapping_live(100, 100));
    }
}
