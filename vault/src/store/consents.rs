//! The consent family: append-only consent histories, consent texts and encrypted evidence.

use async_trait::async_trait;

use super::{StoreResult, records::ConsentTextRecord};
use crate::model::{ConsentEvent, SubjectHandle};

/// Whether `sealed` is `stored` with a MAC added, and `stored` had none: the one change
/// [`ConsentStore::seal_consent`] makes.
pub fn only_seals(stored: &ConsentEvent, sealed: &ConsentEvent) -> bool {
    stored.mac.is_empty()
        && !sealed.mac.is_empty()
        && *stored
            == ConsentEvent {
                mac: String::new(),
                ..sealed.clone()
            }
}

/// Consent histories, texts and evidence.
#[async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    /// Appends a consent event to (subject, purpose) as its `event.seq`-th event, which must be
    /// the history's next number (1, 2, …): the caller sealed the event for that place. If it is
    /// not — another process appended first — nothing is written and the answer is
    /// `AlreadyExists("consent event")`, atomically across processes; the caller reads the
    /// history again. Returns the stored event.
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent>;
    /// The history of a subject for one purpose, oldest first.
    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>>;
    /// Every consent event of a tenant as (subject, purpose, event), by subject, purpose and
    /// sequence number.
    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>>;
    /// The latest event for each subject, for one purpose.
    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>>;
    /// Stores the MAC of an event written before consent events carried one: replaces the
    /// stored event only if it has no MAC and is otherwise equal to `event`; true if it did.
    /// (The one change an append-only history allows, made once at upgrade.)
    async fn seal_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: &ConsentEvent,
    ) -> StoreResult<bool>;
    /// Deletes every consent event of a subject (all purposes); returns how many.
    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64>;

    /// Stores a new consent text version. `AlreadyExists` if that version exists.
    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()>;
    /// Every text version of a purpose, oldest first.
    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>>;

    /// Stores encrypted consent evidence under its receipt id.
    async fn put_evidence(&self, tenant_id: u64, id: &[u8], ciphertext: Vec<u8>)
    -> StoreResult<()>;
    /// Encrypted evidence by receipt id.
    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Up to `limit` evidence records of a tenant in id order after `after` (from the start when
    /// empty), for jobs that re-encrypt every ciphertext.
    async fn scan_evidence(
        &self,
        tenant_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Replaces evidence if it is still exactly `current` (false: changed or gone, nothing
    /// written).
    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool>;
    /// Deletes evidence; true if there was some.
    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool>;
}
