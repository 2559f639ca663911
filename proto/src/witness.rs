//! The audit witness: signed checkpoints kept outside the vault, where whoever holds the vault's
//! store and root key cannot change them. A chain read from the vault must still contain every
//! witnessed head (same sequence, same hash): a chain that ends before one was cut off, one that
//! differs at one was rewritten and re-signed. Pure: `valvctl audit witness` keeps the file.

use crate::{
    audit::{Verification, checkpoint_signature_ok, verify_chain},
    v1::{AuditCheckpoint, AuditEntry},
};

/// What a witness run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The chain checked against its own checkpoints and every witnessed one.
    pub verification: Verification,
    /// The vault's checkpoints beyond the last witnessed head, in order: what to keep now.
    pub new: Vec<AuditCheckpoint>,
}

/// Checks `entries` and the vault's `checkpoints` of `chain` with the pinned `public_key`, and
/// against the `kept` checkpoints of the witness. A witnessed head the chain no longer reaches
/// is reported as truncation, one it no longer matches as a rewrite — with the sequence number.
pub fn witness(
    chain: u64,
    entries: &[AuditEntry],
    checkpoints: &[AuditCheckpoint],
    kept: &[AuditCheckpoint],
    public_key: &[u8],
) -> Witnessed {
    let last_kept = kept.iter().map(|c| c.seq).max().unwrap_or(0);
    // A kept checkpoint that does not verify was altered in the witness file itself.
    if let Some(bad) = kept
        .iter()
        .find(|c| c.chain != chain || !checkpoint_signature_ok(c, public_key))
    {
        return Witnessed {
            verification: Verification {
                problem: Some((
                    bad.seq,
                    format!(
                        "witness file: the checkpoint kept for entry {} does not verify with the pinned key",
                        bad.seq
                    ),
                )),
                ..Verification::default()
            },
            new: Vec::new(),
        };
    }
    let mut all: Vec<AuditCheckpoint> = checkpoints.to_vec();
    all.extend(kept.iter().cloned());
    let verification = verify_chain(chain, entries, &all, public_key);
    let mut new: Vec<AuditCheckpoint> = if verification.ok() {
        checkpoints
            .iter()
            .filter(|c| c.seq > last_kept)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    new.sort_by_key(|c| c.seq);
    new.dedup_by_key(|c| c.seq);
    Witnessed { verification, new }
}

#[cfg(test)]
mod tests {
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;
    use crate::audit::{GENESIS, checkpoint_message, entry_hash};

    fn key(seed: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
    }

    fn chain(n: u64, action: &str) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    chain: 4,
                    seq,
                    action: format!("{action}{seq}"),
                    prev_hash: prev.clone(),
                    ..Default::default()
                };
                e.hash = entry_hash(&e).to_vec();
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn cp(entries: &[AuditEntry], seq: u64, k: &Ed25519KeyPair) -> AuditCheckpoint {
        let mut c = AuditCheckpoint {
            chain: 4,
            seq,
            head_hash: entries[seq as usize - 1].hash.clone(),
            at_unix_ms: 1,
            signature: Vec::new(),
        };
        c.signature = k.sign(&checkpoint_message(&c)).as_ref().to_vec();
        c
    }

    #[test]
    fn a_growing_chain_hands_over_its_new_checkpoints() {
        let k = key(1);
        let e = chain(6, "a");
        let kept = [cp(&e, 2, &k)];
        let w = witness(
            4,
            &e,
            &[cp(&e, 2, &k), cp(&e, 4, &k), cp(&e, 6, &k)],
            &kept,
            k.public_key().as_ref(),
        );
        assert!(w.verification.ok(), "{w:?}");
        assert_eq!(w.new.iter().map(|c| c.seq).collect::<Vec<_>>(), [4, 6]);
    }

    #[test]
    fn a_tail_cut_with_its_checkpoints_is_caught() {
        let k = key(1);
        let e = chain(6, "a");
        let kept = [cp(&e, 6, &k)];
        let mut cut = e.clone();
        cut.truncate(4);
        let w = witness(4, &cut, &[cp(&e, 4, &k)], &kept, k.public_key().as_ref());
        let (seq, why) = w.verification.problem.unwrap();
        assert_eq!(seq, 5);
        assert!(why.contains("truncated"), "{why}");
        assert!(w.new.is_empty());
    }

    #[test]
    fn a_rewritten_and_resigned_chain_is_caught() {
        let k = key(1);
        let kept = [cp(&chain(5, "a"), 5, &k)];
        let other = chain(7, "b");
        let w = witness(
            4,
            &other,
            &[cp(&other, 7, &k)],
            &kept,
            k.public_key().as_ref(),
        );
        let (seq, why) = w.verification.problem.unwrap();
        assert_eq!(seq, 5);
        assert!(why.contains("rewritten"), "{why}");
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let (k, other) = (key(1), key(2));
        let e = chain(3, "a");
        let w = witness(4, &e, &[cp(&e, 3, &other)], &[], k.public_key().as_ref());
        assert!(
            w.verification
                .problem
                .unwrap()
                .1
                .contains("signature invalid")
        );
        let w = witness(4, &e, &[], &[cp(&e, 3, &other)], k.public_key().as_ref());
        assert!(w.verification.problem.unwrap().1.contains("witness file"));
    }
}
