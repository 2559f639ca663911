//! The re-identification rule of `docs/concepts.md` as one pure function of the facts about one
//! item, and the one step where a released identifier becomes plain text.
//!
//! Precedence: `denied` (the principal lacks the purpose, or the purpose does not cover the
//! domain) before `not-found` (no mapping; expired; an earlier epoch past its grace period; a
//! consent-bound domain whose bound consent has ended) before `restricted` before the consent
//! verdicts of a consent-based purpose.

use valv_kms::SecretBytes;

use super::consent::{ConsentStatus, PurposeRule, Verdict, status};
use crate::model::{ConsentEvent, ConsentEventKind};

/// What the vault knows of the stored mapping a pseudonym named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingFacts {
    /// Its expiry (0: none).
    pub expires_ms: i64,
    /// The epoch it was issued in.
    pub epoch: u32,
}

/// What the vault knows of the domain the pseudonym belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainFacts {
    /// The domain's current pseudonym epoch.
    pub epoch: u32,
    /// Until when pseudonyms of earlier epochs still re-identify (0: never after a rotation).
    pub old_epochs_until_ms: i64,
    /// Mappings live no longer than the subject's consent for a bound purpose.
    pub consent_bound: bool,
}

/// Everything the rule looks at for one item.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The principal holds `reidentifier` for the purpose and the purpose covers the domain.
    pub allowed: bool,
    /// The domain.
    pub domain: DomainFacts,
    /// The stored mapping, if the pseudonym named one.
    pub mapping: Option<MappingFacts>,
    /// The purpose's rule.
    pub purpose: PurposeRule,
    /// The subject's latest consent event for the purpose.
    pub consent: Option<&'a ConsentEvent>,
    /// In a consent-bound domain: the subject's latest event for the bound purpose.
    pub bound_consent: Option<&'a ConsentEvent>,
    /// Processing of the subject is restricted (GDPR Art. 18).
    pub restricted: bool,
    /// Now.
    pub now_ms: i64,
}

/// Whether a mapping with this expiry (0 = none) is live at `now_ms`.
pub fn mapping_live(expires_ms: i64, now_ms: i64) -> bool {
    expires_ms == 0 || now_ms < expires_ms
}

/// Whether the mapping still names its subject: live, of the current epoch or within the grace
/// period of an earlier one, and — in a consent-bound domain — while the bound consent has not
/// been withdrawn or run out.
pub fn mapping_holds(facts: &Facts<'_>) -> bool {
    let Some(m) = facts.mapping else {
        return false;
    };
    let in_epoch =
        m.epoch >= facts.domain.epoch || facts.now_ms <= facts.domain.old_epochs_until_ms;
    let bound_ended = facts.domain.consent_bound
        && facts.bound_consent.is_some_and(|e| {
            e.kind == ConsentEventKind::Withdrawn
                || (e.valid_until_ms != 0 && e.valid_until_ms <= facts.now_ms)
        });
    mapping_live(m.expires_ms, facts.now_ms) && in_epoch && !bound_ended
}

/// The verdict for one item.
pub fn decide(facts: &Facts<'_>) -> Verdict {
    if !facts.allowed {
        return Verdict::Denied;
    }
    if !mapping_holds(facts) {
        return Verdict::NotFound;
    }
    if facts.restricted {
        return Verdict::Restricted;
    }
    if !facts.purpose.needs_consent {
        return Verdict::Released;
    }
    match status(facts.consent, facts.now_ms) {
        ConsentStatus::None => Verdict::NoConsent,
        ConsentStatus::Withdrawn => Verdict::ConsentWithdrawn,
        ConsentStatus::Expired => Verdict::ConsentExpired,
        ConsentStatus::Granted => match facts.consent {
            Some(e) if e.text_version >= facts.purpose.min_text_version => Verdict::Released,
            _ => Verdict::NoConsent,
        },
    }
}

/// An identifier decrypted for a `released` verdict, still a secret.
pub struct Released(SecretBytes);

impl Released {
    /// Holds a decrypted identifier until its release is recorded.
    pub fn new(plain: SecretBytes) -> Self {
        Self(plain)
    }

    /// The identifier as text for the caller. The one place a released identifier leaves secret
    /// storage: call it only after the item's `released` verdict is in a durable audit entry,
    /// and only to hand the text to the caller who was released it (never to a log).
    pub fn declassify(self) -> String {
        String::from_utf8_lossy(self.0.expose_secret()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn grant(version: u32, until: i64) -> ConsentEvent {
        ConsentEvent {
            seq: 1,
            kind: ConsentEventKind::Granted,
            text_version: version,
            method: "bankid".into(),
            valid_until_ms: until,
            recorded_by: "p".into(),
            ..ConsentEvent::default()
        }
    }

    fn withdrawn() -> ConsentEvent {
        ConsentEvent {
            kind: ConsentEventKind::Withdrawn,
            ..grant(2, 0)
        }
    }

    const CONSENT: PurposeRule = PurposeRule {
        needs_consent: true,
        min_text_version: 2,
    };
    const CONTRACT: PurposeRule = PurposeRule {
        needs_consent: false,
        min_text_version: 0,
    };
    const DOMAIN: DomainFacts = DomainFacts {
        epoch: 1,
        old_epochs_until_ms: 0,
        consent_bound: false,
    };
    const LIVE: MappingFacts = MappingFacts {
        expires_ms: 0,
        epoch: 1,
    };

    fn facts<'a>(consent: Option<&'a ConsentEvent>, now_ms: i64) -> Facts<'a> {
        Facts {
            allowed: true,
            domain: DOMAIN,
            mapping: Some(LIVE),
            purpose: CONSENT,
            consent,
            bound_consent: None,
            restricted: false,
            now_ms,
        }
    }

    #[test]
    fn the_rule_table() {
        let g = grant(2, 1000);
        let w = withdrawn();
        let denied = Facts {
            allowed: false,
            ..facts(Some(&g), 10)
        };
        assert_eq!(decide(&denied), Verdict::Denied);
        let missing = Facts {
            mapping: None,
            restricted: true,
            ..facts(Some(&g), 10)
        };
        assert_eq!(decide(&missing), Verdict::NotFound);
        assert_eq!(decide(&facts(None, 10)), Verdict::NoConsent);
        let restricted = Facts {
            restricted: true,
            ..facts(Some(&g), 10)
        };
        assert_eq!(decide(&restricted), Verdict::Restricted);
        assert_eq!(decide(&facts(Some(&g), 999)), Verdict::Released);
        assert_eq!(decide(&facts(Some(&g), 1000)), Verdict::ConsentExpired);
        assert_eq!(decide(&facts(Some(&w), 10)), Verdict::ConsentWithdrawn);
        assert_eq!(decide(&facts(Some(&grant(1, 0)), 10)), Verdict::NoConsent);
        assert_eq!(
            decide(&facts(Some(&grant(3, 0)), i64::MAX)),
            Verdict::Released
        );
        let contract = Facts {
            purpose: CONTRACT,
            ..facts(None, 10)
        };
        assert_eq!(decide(&contract), Verdict::Released);
    }

    #[test]
    fn expiry_epochs_and_bound_consents_make_a_mapping_not_found() {
        let g = grant(2, 0);
        let expired = Facts {
            mapping: Some(MappingFacts {
                expires_ms: 100,
                ..LIVE
            }),
            ..facts(Some(&g), 100)
        };
        assert_eq!(decide(&expired), Verdict::NotFound);
        assert_eq!(
            decide(&Facts {
                now_ms: 99,
                ..expired
            }),
            Verdict::Released
        );
        // An earlier epoch re-identifies until the end of its grace period, inclusive.
        let old = Facts {
            domain: DomainFacts {
                epoch: 2,
                old_epochs_until_ms: 500,
                ..DOMAIN
            },
            ..facts(Some(&g), 500)
        };
        assert_eq!(decide(&old), Verdict::Released);
        assert_eq!(decide(&Facts { now_ms: 501, ..old }), Verdict::NotFound);
        // A consent-bound domain: the bound consent withdrawn or run out ends the mapping.
        let w = withdrawn();
        let ran_out = grant(1, 300);
        let bound = Facts {
            domain: DomainFacts {
                consent_bound: true,
                ..DOMAIN
            },
            purpose: CONTRACT,
            ..facts(None, 300)
        };
        assert_eq!(decide(&bound), Verdict::Released, "no bound event yet");
        assert_eq!(
            decide(&Facts {
                bound_consent: Some(&w),
                ..bound
            }),
            Verdict::NotFound
        );
        assert_eq!(
            decide(&Facts {
                bound_consent: Some(&ran_out),
                ..bound
            }),
            Verdict::NotFound
        );
        assert_eq!(
            decide(&Facts {
                bound_consent: Some(&ran_out),
                now_ms: 299,
                ..bound
            }),
            Verdict::Released
        );
    }

    #[test]
    fn mapping_expiry() {
        assert!(mapping_live(0, i64::MAX));
        assert!(mapping_live(100, 99));
        assert!(!mapping_live(100, 100));
    }

    proptest! {
        /// Released exactly when every condition of the rule holds, whatever the facts.
        #[test]
        fn released_only_when_every_condition_holds(
            allowed: bool,
            has_mapping: bool,
            expires in prop_oneof![Just(0i64), 0i64..2_000],
            epoch in 1u32..4,
            domain_epoch in 1u32..4,
            grace in 0i64..2_000,
            bound: bool,
            bound_kind in 0u8..3,
            bound_until in prop_oneof![Just(0i64), 0i64..2_000],
            needs_consent: bool,
            min_version in 0u32..4,
            consent_kind in 0u8..3,
            version in 0u32..4,
            until in prop_oneof![Just(0i64), 0i64..2_000],
            restricted: bool,
            now in 0i64..2_000,
        ) {
            let event = |kind: u8, until: i64| match kind {
                0 => None,
                1 => Some(grant(version, until)),
                _ => Some(withdrawn()),
            };
            let consent = event(consent_kind, until);
            let bound_event = event(bound_kind, bound_until);
            let f = Facts {
                allowed,
                domain: DomainFacts { epoch: domain_epoch, old_epochs_until_ms: grace, consent_bound: bound },
                mapping: has_mapping.then_some(MappingFacts { expires_ms: expires, epoch }),
                purpose: PurposeRule { needs_consent, min_text_version: min_version },
                consent: consent.as_ref(),
                bound_consent: bound_event.as_ref(),
                restricted,
                now_ms: now,
            };
            let live = has_mapping && (expires == 0 || now < expires);
            let in_epoch = epoch >= domain_epoch || now <= grace;
            let bound_ok = !bound || match bound_kind {
                1 => bound_until == 0 || now < bound_until,
                2 => false,
                _ => true,
            };
            let consent_ok = !needs_consent || (consent_kind == 1
                && (until == 0 || now < until)
                && version >= min_version);
            let expected = allowed && live && in_epoch && bound_ok && !restricted && consent_ok;
            prop_assert_eq!(decide(&f) == Verdict::Released, expected);
            if !allowed {
                prop_assert_eq!(decide(&f), Verdict::Denied);
            } else if !(live && in_epoch && bound_ok) {
                prop_assert_eq!(decide(&f), Verdict::NotFound);
            } else if restricted {
                prop_assert_eq!(decide(&f), Verdict::Restricted);
            }
        }
    }
}
