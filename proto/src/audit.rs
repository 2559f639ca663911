//! The audit chain's hash and checkpoint formats, and the check of a chain against them.
//!
//! This lives in the wire-contract crate because it *is* contract: the server chains and signs
//! with it, and `valvctl audit verify` (or anyone with the `.proto` comment in hand) checks an
//! export offline with the same bytes. The encoding is explicit (length-prefixed, big-endian),
//! not protobuf bytes, so that any language can reproduce it.

use std::collections::HashMap;

use ring::signature::{ED25519, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::v1::{AuditCheckpoint, AuditEntry};

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

const ENTRY_DOMAIN: &[u8] = b"valv.audit.entry.v1\0";
const CHECKPOINT_DOMAIN: &[u8] = b"valv.audit.checkpoint.v1\0";

fn lp(h: &mut Sha256, bytes: &[u8]) {
    // Entries are built by the server from bounded fields; a length over u32 cannot occur, and
    // saturating keeps the function total.
    h.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(bytes);
}

fn count(h: &mut Sha256, n: usize) {
    h.update(u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// The hash of `e` (its own `hash` field is not part of it; `prev_hash` is).
pub fn entry_hash(e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(e.chain.to_be_bytes());
    h.update(e.seq.to_be_bytes());
    h.update(e.at_unix_ms.to_be_bytes());
    for field in [
        &e.principal,
        &e.action,
        &e.domain,
        &e.purpose,
        &e.subject,
        &e.verdict,
        &e.request_id,
    ] {
        lp(&mut h, field.as_bytes());
    }
    count(&mut h, e.counts.len());
    for c in &e.counts {
        lp(&mut h, c.name.as_bytes());
        h.update(c.value.to_be_bytes());
    }
    count(&mut h, e.items.len());
    for i in &e.items {
        lp(&mut h, i.target.as_bytes());
        lp(&mut h, i.outcome.as_bytes());
    }
    lp(&mut h, &e.prev_hash);
    // Added after the first format: hashed only when present, so older entries keep their hash.
    if !e.changes.is_empty() {
        h.update(b"changes");
        count(&mut h, e.changes.len());
        for c in &e.changes {
            lp(&mut h, c.field.as_bytes());
            lp(&mut h, c.before.as_bytes());
            lp(&mut h, c.after.as_bytes());
        }
    }
    if e.items.iter().any(|i| !i.subject.is_empty()) {
        h.update(b"item-subjects");
        for i in &e.items {
            lp(&mut h, i.subject.as_bytes());
        }
    }
    h.finalize().into()
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_message(cp: &AuditCheckpoint) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 24 + cp.head_hash.len());
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&cp.chain.to_be_bytes());
    m.extend_from_slice(&cp.seq.to_be_bytes());
    m.extend_from_slice(&cp.at_unix_ms.to_be_bytes());
    m.extend_from_slice(&cp.head_hash);
    m
}

/// Whether `cp` carries a valid Ed25519 signature by `public_key`.
pub fn checkpoint_signature_ok(cp: &AuditCheckpoint, public_key: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&checkpoint_message(cp), &cp.signature)
        .is_ok()
}

/// The outcome of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verification {
    /// Entries checked (up to the first problem).
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The last entry covered by a valid checkpoint (0: none).
    pub last_checkpoint_seq: u64,
    /// The first problem: the sequence number of the first wrong (or missing) entry and why.
    pub problem: Option<(u64, String)>,
}

impl Verification {
    /// No problem found.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks a chain entry by entry in chain order, holding only its checkpoints, the previous
/// entry's hash and the hashes at checkpointed positions: a chain of any length verifies in
/// memory of the order of its checkpoints (one per thousand entries by default).
/// [`verify_chain`] is this over a slice.
pub struct ChainVerifier<'k> {
    chain: u64,
    public_key: &'k [u8],
    checkpoints: Vec<AuditCheckpoint>,
    /// The hash of each entry seen at a checkpointed position.
    at_checkpoints: HashMap<u64, Vec<u8>>,
    prev: Vec<u8>,
    v: Verification,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier of `chain` against its `checkpoints`, signed with `public_key`.
    pub fn new(chain: u64, checkpoints: &[AuditCheckpoint], public_key: &'k [u8]) -> Self {
        let mut checkpoints = checkpoints.to_vec();
        checkpoints.sort_by_key(|c| c.seq);
        Self {
            chain,
            public_key,
            at_checkpoints: HashMap::with_capacity(checkpoints.len()),
            checkpoints,
            prev: GENESIS.to_vec(),
            v: Verification::default(),
        }
    }

    /// Checks the next entry; false once a problem was found (reading on changes nothing).
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        if self.v.problem.is_some() {
            return false;
        }
        let chain = self.chain;
        let expected = self.v.entries + 1;
        let problem = if e.chain != chain {
            Some(format!(
                "entry {expected}: belongs to chain {}, not {chain}",
                e.chain
            ))
        } else if e.seq != expected {
            Some(format!(
                "entry {expected}: found seq {} in its place (an entry is missing or entries are out of order)",
                e.seq
            ))
        } else if e.prev_hash != self.prev {
            Some(format!(
                "entry {expected}: prev_hash does not match entry {}'s hash (an entry before it was removed, replaced or reordered)",
                expected - 1
            ))
        } else if e.hash != entry_hash(e) {
            Some(format!(
                "entry {expected}: contents do not match its hash (altered)"
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            self.v.problem = Some((expected, p));
            return false;
        }
        self.prev.clone_from(&e.hash);
        if self
            .checkpoints
            .binary_search_by_key(&expected, |c| c.seq)
            .is_ok()
        {
            self.at_checkpoints.insert(expected, e.hash.clone());
        }
        self.v.entries = expected;
        true
    }

    /// The outcome: the entries as pushed, then every checkpoint in order of its position.
    pub fn finish(self) -> Verification {
        let Self {
            chain,
            public_key,
            checkpoints,
            at_checkpoints,
            mut v,
            ..
        } = self;
        if v.problem.is_some() {
            return v;
        }
        for cp in &checkpoints {
            let problem = if cp.chain != chain {
                Some((
                    cp.seq,
                    format!(
                        "checkpoint at entry {}: belongs to chain {}, not {chain}",
                        cp.seq, cp.chain
                    ),
                ))
            } else if !checkpoint_signature_ok(cp, public_key) {
                Some((
                    cp.seq,
                    format!("checkpoint at entry {}: signature invalid", cp.seq),
                ))
            } else if cp.seq > v.entries {
                Some((
                    v.entries + 1,
                    format!(
                        "entry {}: missing — the chain ends at entry {} but a signed checkpoint covers entries up to {} (truncated)",
                        v.entries + 1,
                        v.entries,
                        cp.seq
                    ),
                ))
            } else if at_checkpoints.get(&cp.seq) != Some(&cp.head_hash) {
                Some((
                    cp.seq,
                    format!(
                        "entry {}: does not match the signed checkpoint (the chain was rewritten)",
                        cp.seq
                    ),
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                v.problem = Some(p);
                return v;
            }
            v.checkpoints += 1;
            v.last_checkpoint_seq = cp.seq;
        }
        v
    }
}

/// Checks `entries` (in stored order, the whole chain from seq 1) of chain `chain` against their
/// hashes and against `checkpoints` signed by `public_key`. Names the first entry that is
/// altered, missing, out of order, or cut off after a signed checkpoint.
pub fn verify_chain(
    chain: u64,
    entries: &[AuditEntry],
    checkpoints: &[AuditCheckpoint],
    public_key: &[u8],
) -> Verification {
    let mut verifier = ChainVerifier::new(chain, checkpoints, public_key);
    for e in entries {
        if !verifier.push(e) {
            break;
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;
    use crate::v1::{AuditCount, AuditItem};

    fn key() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap()
    }

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    chain: 9,
                    seq,
                    at_unix_ms: 1000 + seq as i64,
                    principal: "p1".into(),
                    action: "reidentify".into(),
                    domain: "patients".into(),
                    purpose: "care".into(),
                    counts: vec![AuditCount {
                        name: "items".into(),
                        value: seq,
                    }],
                    items: vec![AuditItem {
                        target: format!("ps{seq}"),
                        outcome: "released".into(),
                        subject: String::new(),
                    }],
                    prev_hash: prev.clone(),
                    ..Default::default()
                };
                e.hash = entry_hash(&e).to_vec();
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn checkpoint(entries: &[AuditEntry], seq: u64) -> AuditCheckpoint {
        let mut cp = AuditCheckpoint {
            chain: 9,
            seq,
            head_hash: entries[seq as usize - 1].hash.clone(),
            at_unix_ms: 5,
            signature: Vec::new(),
        };
        cp.signature = key().sign(&checkpoint_message(&cp)).as_ref().to_vec();
        cp
    }

    fn check(entries: &[AuditEntry], cps: &[AuditCheckpoint]) -> Verification {
        verify_chain(9, entries, cps, key().public_key().as_ref())
    }

    #[test]
    fn an_intact_chain_verifies() {
        let e = chain(5);
        let v = check(&e, &[checkpoint(&e, 3), checkpoint(&e, 5)]);
        assert_eq!(v.problem, None);
        assert_eq!((v.entries, v.checkpoints, v.last_checkpoint_seq), (5, 2, 5));
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = chain(1).remove(0);
        let h = entry_hash(&base);
        let mut variants = Vec::new();
        for f in 0..16 {
            let mut e = base.clone();
            e.changes = vec![crate::v1::AuditChange {
                field: "legal_basis".into(),
                before: "consent".into(),
                after: "contract".into(),
            }];
            let with_change = entry_hash(&e);
            assert_ne!(with_change, h, "a change is hashed");
            e.changes.clear();
            match f {
                0 => e.chain += 1,
                1 => e.seq += 1,
                2 => e.at_unix_ms += 1,
                3 => e.principal.push('x'),
                4 => e.action.push('x'),
                5 => e.domain.push('x'),
                6 => e.purpose.push('x'),
                7 => e.subject.push('x'),
                8 => e.verdict.push('x'),
                9 => e.request_id.push('x'),
                10 => e.counts[0].value += 1,
                11 => e.items[0].outcome.push('x'),
                _ => {
                    let mut change = crate::v1::AuditChange {
                        field: "legal_basis".into(),
                        before: "consent".into(),
                        after: "contract".into(),
                    };
                    match f {
                        12 => change.field.push('x'),
                        13 => change.before.push('x'),
                        14 => change.after.push('x'),
                        _ => {
                            // Moving a byte across the boundary of two values is seen too.
                            change.before = "consen".into();
                            change.after = "tcontract".into();
                        }
                    }
                    e.changes = vec![change];
                    assert_ne!(entry_hash(&e), with_change, "variant {f}");
                }
            }
            variants.push(entry_hash(&e));
        }
        assert!(variants.iter().all(|v| *v != h));
        // Field boundaries matter: moving a byte from one field to the next changes the hash.
        let mut a = base.clone();
        a.domain = "ab".into();
        a.purpose = "c".into();
        let mut b = base;
        b.domain = "a".into();
        b.purpose = "bc".into();
        assert_ne!(entry_hash(&a), entry_hash(&b));
    }

    #[test]
    fn item_subjects_are_hashed_only_when_an_item_names_one() {
        let base = chain(1).remove(0);
        let mut empty = base.clone();
        empty.items[0].subject = String::new();
        assert_eq!(
            entry_hash(&empty),
            entry_hash(&base),
            "older entries keep their hash"
        );
        let mut named = base.clone();
        named.items[0].subject = "00ff".into();
        let mut other = base;
        other.items[0].subject = "00fe".into();
        assert_ne!(entry_hash(&named), entry_hash(&empty));
        assert_ne!(entry_hash(&named), entry_hash(&other));
    }

    #[test]
    fn an_altered_entry_is_named() {
        let mut e = chain(5);
        e[2].items[0].outcome = "no-consent".into();
        let v = check(&e, &[]);
        assert_eq!(v.problem.map(|p| p.0), Some(3));
    }

    #[test]
    fn an_altered_and_rehashed_entry_is_named_by_its_successor() {
        let mut e = chain(5);
        e[2].principal = "someone-else".into();
        e[2].hash = entry_hash(&e[2]).to_vec();
        let v = check(&e, &[]);
        assert_eq!(v.problem.map(|p| p.0), Some(4));
    }

    #[test]
    fn a_rewritten_chain_is_caught_by_the_checkpoint() {
        let original = chain(5);
        let cp = checkpoint(&original, 5);
        let mut e = original;
        e[1].principal = "someone-else".into();
        let mut prev = e[0].hash.clone();
        for x in e.iter_mut().skip(1) {
            x.prev_hash = prev;
            x.hash = entry_hash(x).to_vec();
            prev = x.hash.clone();
        }
        assert_eq!(check(&e, &[]).problem, None);
        assert_eq!(check(&e, &[cp]).problem.map(|p| p.0), Some(5));
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut e = chain(5);
        e.remove(1);
        let v = check(&e, &[]);
        assert_eq!(v.problem.map(|p| p.0), Some(2));
    }

    #[test]
    fn reordered_entries_are_named() {
        let mut e = chain(5);
        e.swap(2, 3);
        assert_eq!(check(&e, &[]).problem.map(|p| p.0), Some(3));
    }

    #[test]
    fn truncation_is_caught_against_the_last_checkpoint() {
        let mut e = chain(5);
        let cp = checkpoint(&e, 5);
        e.truncate(3);
        let v = check(&e, &[cp]);
        assert_eq!(v.problem.as_ref().map(|p| p.0), Some(4));
        assert!(v.problem.is_some_and(|p| p.1.contains("truncated")));
    }

    #[test]
    fn a_forged_checkpoint_is_refused() {
        let e = chain(3);
        let mut cp = checkpoint(&e, 3);
        cp.at_unix_ms += 1;
        assert_eq!(check(&e, &[cp]).problem.map(|p| p.0), Some(3));
        let other = Ed25519KeyPair::from_seed_unchecked(&[8u8; 32]).unwrap();
        let cp = checkpoint(&e, 3);
        let v = verify_chain(9, &e, &[cp], other.public_key().as_ref());
        assert!(!v.ok());
    }
}
