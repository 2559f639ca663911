//! sled: the audit subject index (`audit_subjects` tree, keys `chain|len|subject|seq`), and the
//! indexing, once at open, of entries stored before the index existed. Apart from the audit
//! family so the store's `open` can call it.

use valv_proto::v1::AuditEntry;

use crate::store::{
    StoreError, StoreResult,
    audit::{decode_entry, subjects_named},
};

/// The `meta` key that says every entry written before the subject index existed is in it.
pub(super) const INDEXED: &str = "audit-subjects-indexed/1";

/// `chain|len|subject`: the prefix of a subject's index keys.
pub(super) fn subject_prefix(chain: u64, subject: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + subject.len() + 8);
    k.extend_from_slice(&chain.to_be_bytes());
    k.push(u8::try_from(subject.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(subject.as_bytes());
    k
}

/// The index key of `subject` in entry `seq` of `chain`.
pub(super) fn subject_key(chain: u64, subject: &str, seq: u64) -> Vec<u8> {
    let mut k = subject_prefix(chain, subject);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The index keys of one entry.
pub(super) fn index_keys(e: &AuditEntry) -> impl Iterator<Item = Vec<u8>> + '_ {
    subjects_named(e)
        .into_iter()
        .map(|s| subject_key(e.chain, s, e.seq))
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Indexes the entries of `audit` stored before the subject index existed, once (sled has one
/// process, and this runs at open). Idempotent: a run cut short is done again at the next open.
pub(super) fn index_older_entries(
    audit: &sled::Tree,
    subjects: &sled::Tree,
    meta: &sled::Tree,
) -> StoreResult<()> {
    if meta.get(INDEXED).map_err(backend)?.is_some() {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    let mut pending = 0;
    for kv in audit {
        let (_, v) = kv.map_err(backend)?;
        for key in index_keys(&decode_entry(&v)?) {
            batch.insert(key, Vec::new());
            pending += 1;
        }
        if pending >= 10_000 {
            subjects
                .apply_batch(std::mem::take(&mut batch))
                .map_err(backend)?;
            pending = 0;
        }
    }
    subjects.apply_batch(batch).map_err(backend)?;
    // The marker after the keys: the store's flush orders them.
    meta.insert(INDEXED, b"1".as_slice()).map_err(backend)?;
    Ok(())
}
