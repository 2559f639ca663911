//! The mapping family: pseudonym → encrypted identifier rows and the blind index of `random`
//! domains.

use async_trait::async_trait;

use super::{
    StoreResult,
    records::{InsertOutcome, MappingRecord, NewMapping},
};

/// Mappings and blind-index entries. Domain ids are unique across tenants.
#[async_trait]
pub trait MappingStore: Send + Sync + 'static {
    /// Inserts mappings whose identifier has none yet, atomically per call: per row, it is stored
    /// (with its blind-index entry) or the existing pseudonym is returned. Concurrent calls for
    /// the same identifier — in this process or another — agree on one pseudonym. A row repeated
    /// inside one call gets the first row's outcome as `Existing`. `tenant_id` is for back-ends
    /// that keep it in the row.
    ///
    /// No subject → pseudonyms index is written: a subject's pseudonyms are found again from the
    /// identifier (MAC / FF1 per domain and epoch, the blind index for `random`), or from a
    /// reversible pseudonym whose identifier the vault decrypts. A second row per mapping would
    /// halve insert throughput and add ~40 % to the disk per mapping (BENCHMARKS.md).
    async fn insert_mappings(
        &self,
        tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>>;
    /// Which of these pseudonyms have a mapping (cheaper than [`MappingStore::mappings`]:
    /// nothing is decoded). A `true` is covered by the next [`Durability::sync`](super::Durability::sync).
    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        Ok(self
            .mappings(domain_id, pseudonyms)
            .await?
            .iter()
            .map(Option::is_some)
            .collect())
    }
    /// One mapping by pseudonym.
    async fn mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
    ) -> StoreResult<Option<MappingRecord>> {
        Ok(self
            .mappings(domain_id, vec![pseudonym.to_vec()])
            .await?
            .into_iter()
            .next()
            .flatten())
    }
    /// Looks mappings up by pseudonym.
    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>>;
    /// Up to `limit` mappings of a domain in pseudonym order, after pseudonym `after` (from the
    /// start when empty), for jobs that walk every record.
    async fn scan_mappings(
        &self,
        domain_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>>;
    /// Replaces a mapping's ciphertext if the mapping is still exactly `current` (false: it
    /// changed or is gone, nothing written).
    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool>;
    /// Moves a mapping's expiry together with its ciphertext, re-sealed for the new expiry
    /// (which it is bound to; `None` for a one-way mapping), if the mapping is still exactly
    /// `current` (false: changed or gone, nothing written).
    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
        ciphertext: Option<Vec<u8>>,
    ) -> StoreResult<bool>;
    /// Every blind-index entry of a domain: (blind index, pseudonym), by blind index.
    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>>;
    /// The pseudonym a blind-index entry points to (`random`, `format-preserving` domains).
    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>>;
    /// [`MappingStore::blind_lookup`] for many entries, in order.
    async fn blind_lookups(
        &self,
        domain_id: u64,
        blinds: Vec<[u8; 16]>,
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(blinds.len());
        for b in blinds {
            out.push(self.blind_lookup(domain_id, b).await?);
        }
        Ok(out)
    }
    /// Deletes a mapping (and its blind-index entry, if given) for good, both or neither.
    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()>;
}
