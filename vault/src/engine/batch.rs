//! The pure part of a pseudonymise batch: normalise every identifier, derive its pseudonym, and
//! sort the items into refused, answered at once (one-way keyed domains), and needing a stored
//! mapping (reversible domains, and every `random` and `format-preserving` domain).

use valv_kms::SecretBytes;

use super::{
    date::Date,
    identifier::normalise,
    scheme::{Pseudonym, PseudonymKey},
    subject::{Erased, SubjectHandle, SubjectHasher},
};
use crate::model::{IdentifierKind, Scheme};

/// The domain as the batch sees it.
#[derive(Debug, Clone, Copy)]
pub struct BatchDomain {
    /// Identifier kind.
    pub kind: IdentifierKind,
    /// Pseudonym scheme.
    pub scheme: Scheme,
    /// Identifiers are kept (encrypted) for re-identification.
    pub reversible: bool,
}

impl BatchDomain {
    /// Whether an item needs a stored mapping: to decrypt later (reversible), or to find an
    /// allocated pseudonym again (`random`, `format-preserving`).
    pub fn stores_mapping(self) -> bool {
        self.reversible || self.scheme.allocates()
    }
}

/// Where one input item stands.
#[derive(Debug)]
pub enum Slot {
    /// Refused: the rule it broke (never the value).
    Failed(String),
    /// Answered at once: nothing is stored for it.
    Ready(Pseudonym),
    /// Needs a stored mapping: the index of its [`Candidate`].
    Pending(usize),
}

/// An identifier that needs a stored mapping.
pub struct Candidate {
    /// The proposed pseudonym (for `random`, a fresh token the blind index may replace; for
    /// `format-preserving`, empty until one is allocated).
    pub pseudonym: Pseudonym,
    /// The blind-index entry (`random`, `format-preserving`).
    pub blind: Option<[u8; 16]>,
    /// The normalised identifier, still a secret.
    pub value: SecretBytes,
}

/// A batch after normalisation and derivation.
pub struct Prepared {
    /// One slot per input item, in order.
    pub slots: Vec<Slot>,
    /// The items that need a stored mapping.
    pub candidates: Vec<Candidate>,
    /// Items of erased subjects (the subject is back): (slot, subject handle).
    pub returning: Vec<(usize, SubjectHandle)>,
}

/// The tenant's erased subjects, for a batch (see [`prepare`]).
#[derive(Clone, Copy)]
pub struct Erasures<'a> {
    /// The tenant's subject hasher.
    pub hasher: &'a SubjectHasher,
    /// Erased subjects and their tombstones' tweaks.
    pub erased: &'a Erased,
}

/// Normalises and derives every identifier of a batch; `today` decides the century of 10-digit
/// Swedish numbers, `max_bytes` bounds each raw identifier. An erased subject's keyed
/// pseudonym is derived under its tombstone's tweak (so it is not the erased one) and its item
/// is listed in [`Prepared::returning`]; subject handles are computed only when the tenant has
/// erased subjects.
pub fn prepare(
    domain: BatchDomain,
    key: &PseudonymKey,
    identifiers: &[String],
    today: Date,
    max_bytes: usize,
    erasures: Erasures<'_>,
) -> Prepared {
    let mut slots = Vec::with_capacity(identifiers.len());
    let mut candidates = Vec::new();
    let mut returning = Vec::new();
    for raw in identifiers {
        let value = match normalise(domain.kind, raw, today, max_bytes) {
            Ok(n) => n.value,
            Err(e) => {
                slots.push(Slot::Failed(e.to_string()));
                continue;
            }
        };
        let mut tweak = None;
        if !erasures.erased.is_empty() {
            let subject = erasures.hasher.handle(domain.kind, value.expose_secret());
            tweak = erasures.erased.get(&subject);
            if tweak.is_some() {
                returning.push((slots.len(), subject));
            }
        }
        match (
            key.derive_for(value.expose_secret(), tweak),
            domain.stores_mapping(),
        ) {
            (Some(p), false) => slots.push(Slot::Ready(p)),
            (derived, _) => {
                let blind = domain
                    .scheme
                    .allocates()
                    .then(|| key.blind_index(value.expose_secret()));
                // A format-preserving pseudonym is allocated once the blind index missed.
                let pseudonym = match (derived, domain.scheme) {
                    (Some(p), _) => p,
                    (None, Scheme::FormatPreserving) => Pseudonym(Vec::new()),
                    (None, _) => Pseudonym::random(),
                };
                slots.push(Slot::Pending(candidates.len()));
                candidates.push(Candidate {
                    pseudonym,
                    blind,
                    value,
                });
            }
        }
    }
    Prepared {
        slots,
        candidates,
        returning,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(scheme: Scheme, kind: IdentifierKind) -> PseudonymKey {
        PseudonymKey::new(scheme, kind, &valv_kms::SecretKey::from_bytes([7; 32])).unwrap()
    }

    fn domain(scheme: Scheme, kind: IdentifierKind, reversible: bool) -> BatchDomain {
        BatchDomain {
            kind,
            scheme,
            reversible,
        }
    }

    const TODAY: Date = Date {
        year: 2026,
        month: 12,
        day: 1,
    };

    static HASHER: std::sync::LazyLock<SubjectHasher> =
        std::sync::LazyLock::new(|| SubjectHasher::new(&valv_kms::SecretKey::from_bytes([3; 32])));
    static NOBODY: std::sync::LazyLock<Erased> = std::sync::LazyLock::new(Erased::new);

    fn none() -> Erasures<'static> {
        Erasures {
            hasher: &HASHER,
            erased: &NOBODY,
        }
    }

    #[test]
    fn an_erased_subject_gets_a_keyed_pseudonym_under_its_tweak() {
        let d = domain(Scheme::Keyed, IdentifierKind::Email, false);
        let k = key(d.scheme, d.kind);
        let before = prepare(
            d,
            &k,
            &ids(&["anna@example.se", "bo@example.se"]),
            TODAY,
            256,
            none(),
        );
        let anna = HASHER.handle(d.kind, b"anna@example.se");
        let erased: Erased = [(anna, [9; 16])].into_iter().collect();
        let e = Erasures {
            hasher: &HASHER,
            erased: &erased,
        };
        let after = prepare(
            d,
            &k,
            &ids(&["bo@example.se", "Anna@Example.se"]),
            TODAY,
            256,
            e,
        );
        let (Slot::Ready(a0), Slot::Ready(b0)) = (&before.slots[0], &before.slots[1]) else {
            panic!("{:?}", before.slots);
        };
        let (Slot::Ready(b1), Slot::Ready(a1)) = (&after.slots[0], &after.slots[1]) else {
            panic!("{:?}", after.slots);
        };
        assert_eq!(b0, b1, "others keep their pseudonyms");
        assert_ne!(a0, a1, "the erased subject gets another one");
        assert_eq!(after.returning, vec![(1, anna)]);
        let other: Erased = [(anna, [8; 16])].into_iter().collect();
        let again = prepare(
            d,
            &k,
            &ids(&["anna@example.se"]),
            TODAY,
            256,
            Erasures {
                hasher: &HASHER,
                erased: &other,
            },
        );
        let Slot::Ready(a2) = &again.slots[0] else {
            panic!("{:?}", again.slots);
        };
        assert!(a2 != a1 && a2 != a0, "each erasure its own tweak");
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_way_keyed_items_are_answered_at_once_and_refusals_name_the_rule() {
        let d = domain(Scheme::Keyed, IdentifierKind::Email, false);
        let k = key(d.scheme, d.kind);
        let p = prepare(
            d,
            &k,
            &ids(&["Anna@Example.se ", "not an address", "anna@example.se"]),
            TODAY,
            256,
            none(),
        );
        assert!(p.candidates.is_empty());
        let (Slot::Ready(a), Slot::Failed(rule), Slot::Ready(b)) =
            (&p.slots[0], &p.slots[1], &p.slots[2])
        else {
            panic!("{:?}", p.slots);
        };
        assert_eq!(a, b, "two spellings of one address are one person");
        assert!(rule.starts_with("email"), "{rule}");
        assert!(!rule.contains("not an address"));
    }

    #[test]
    fn reversible_and_random_items_need_a_mapping() {
        let d = domain(Scheme::Keyed, IdentifierKind::Opaque, true);
        let k = key(d.scheme, d.kind);
        let p = prepare(d, &k, &ids(&["x", "y", "x"]), TODAY, 256, none());
        assert_eq!(p.candidates.len(), 3);
        assert_eq!(p.candidates[0].pseudonym, p.candidates[2].pseudonym);
        assert!(p.candidates.iter().all(|c| c.blind.is_none()));
        assert_eq!(p.candidates[1].value.expose_secret(), b"y");

        let d = domain(Scheme::Random, IdentifierKind::Opaque, false);
        let k = key(d.scheme, d.kind);
        let p = prepare(d, &k, &ids(&["x", "x"]), TODAY, 256, none());
        assert_eq!(p.candidates.len(), 2);
        // Fresh tokens differ; the blind index is what finds the one stored.
        assert_ne!(p.candidates[0].pseudonym, p.candidates[1].pseudonym);
        assert_eq!(p.candidates[0].blind, p.candidates[1].blind);
        assert!(p.candidates[0].blind.is_some());
    }

    proptest! {
        /// Any input gets one slot per item, refusals never echo the value, and a keyed domain
        /// gives one pseudonym per normal form.
        #[test]
        fn every_item_gets_one_slot(raw in prop::collection::vec(".{0,40}", 0..20), reversible: bool) {
            let d = domain(Scheme::Keyed, IdentifierKind::Email, reversible);
            let k = key(d.scheme, d.kind);
            let p = prepare(d, &k, &raw, TODAY, 256, none());
            prop_assert_eq!(p.slots.len(), raw.len());
            for (slot, input) in p.slots.iter().zip(&raw) {
                match slot {
                    Slot::Failed(rule) => prop_assert!(input.len() < 3 || !rule.contains(input.as_str())),
                    Slot::Ready(_) => prop_assert!(!reversible),
                    Slot::Pending(i) => {
                        prop_assert!(reversible);
                        let again = prepare(d, &k, std::slice::from_ref(input), TODAY, 256, none());
                        prop_assert_eq!(&again.candidates[0].pseudonym, &p.candidates[*i].pseudonym);
                    }
                }
            }
        }
    }
}
