//! Fail closed: when the audit log cannot take an entry, acts that must be recorded are refused
//! with UNAVAILABLE and nothing is released or changed.
//!
//! The server runs on the real sled store, wrapped in a decorator that makes audit appends fail
//! on command (fault injection; every other call goes to sled unchanged).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use tonic::Code;
use valv::{
    config::StoreOverride,
    engine::{consent::ConsentEvent, subject::SubjectHandle},
    store::{
        Store, StoreError, StoreResult,
        records::{
            AuditRecord, ConsentTextRecord, DomainRecord, InsertOutcome, JobRecord, MappingRecord,
            NewMapping, PendingOpRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
            RestrictionRecord, SubjectEventRecord, TenantRecord, TombstoneRecord,
        },
        sled::SledStore,
    },
};
use valv_e2e::{
    grant, jobs, key_versions, pb, pseudonymise_ok, reidentify, setup_tenant, start_configured,
};
use valv_kms::WrappedTenantKeys;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

struct AuditFault {
    inner: SledStore,
    failing: Arc<AtomicBool>,
}

impl AuditFault {
    fn check(&self) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Backend("injected audit failure".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for AuditFault {
    async fn next_id(&self) -> StoreResult<u64> {
        self.inner.next_id().await
    }
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()> {
        self.inner.create_tenant(tenant, keys).await
    }
    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>> {
        self.inner.tenant(id).await
    }
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>> {
        self.inner.tenant_keys(tenant_id).await
    }
    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        self.inner.create_domain(domain).await
    }
    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        self.inner.put_domain(domain).await
    }
    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>> {
        self.inner.domain(tenant_id, name).await
    }
    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>> {
        self.inner.list_domains(tenant_id).await
    }
    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()> {
        self.inner.put_purpose(purpose).await
    }
    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>> {
        self.inner.purpose(tenant_id, name).await
    }
    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>> {
        self.inner.list_purposes(tenant_id).await
    }
    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()> {
        self.inner.put_record_policy(policy).await
    }
    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>> {
        self.inner.record_policy(tenant_id, name).await
    }
    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>> {
        self.inner.list_record_policies(tenant_id).await
    }
    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        self.inner.delete_record_policy(tenant_id, name).await
    }
    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()> {
        self.inner.put_principal(principal).await
    }
    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.inner.principal(id).await
    }
    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.inner.principal_by_cert(sha256_hex).await
    }
    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>> {
        self.inner.list_principals(tenant_id).await
    }
    async fn insert_mappings(
        &self,
        tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>> {
        self.inner.insert_mappings(tenant_id, domain_id, rows).await
    }
    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        self.inner.contains_mappings(domain_id, pseudonyms).await
    }
    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>> {
        self.inner.mappings(domain_id, pseudonyms).await
    }
    async fn scan_mappings(
        &self,
        domain_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>> {
        self.inner.scan_mappings(domain_id, after, limit).await
    }
    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        self.inner
            .replace_ciphertext(domain_id, pseudonym, current, ciphertext)
            .await
    }
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()> {
        self.inner.put_job(job).await
    }
    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>> {
        self.inner.job(id).await
    }
    async fn jobs(&self) -> StoreResult<Vec<JobRecord>> {
        self.inner.jobs().await
    }
    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()> {
        self.inner.put_pending_op(op).await
    }
    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>> {
        self.inner.pending_ops().await
    }
    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>> {
        self.inner.key_usage(tenant_id).await
    }
    async fn put_key_usage(&self, tenant_id: u64, version: u32, reserved: u64) -> StoreResult<()> {
        self.inner.put_key_usage(tenant_id, version, reserved).await
    }
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent> {
        self.inner
            .append_consent(tenant_id, subject, purpose, event)
            .await
    }
    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>> {
        self.inner
            .consent_history(tenant_id, subject, purpose)
            .await
    }
    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
    ) -> StoreResult<bool> {
        self.inner
            .set_expiry(domain_id, pseudonym, current, expires_ms)
            .await
    }
    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>> {
        self.inner.blind_entries(domain_id).await
    }
    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>> {
        self.inner.blind_lookup(domain_id, blind).await
    }
    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()> {
        self.inner.delete_mapping(domain_id, pseudonym, blind).await
    }
    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64> {
        self.inner.delete_consents(tenant_id, subject).await
    }
    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool> {
        self.inner.delete_evidence(tenant_id, id).await
    }
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()> {
        self.inner.put_restriction(tenant_id, r).await
    }
    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool> {
        self.inner.delete_restriction(tenant_id, subject_hex).await
    }
    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>> {
        self.inner.restrictions(tenant_id).await
    }
    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()> {
        self.inner.put_tombstone(tenant_id, t).await
    }
    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>> {
        self.inner.tombstone(tenant_id, subject_hex).await
    }
    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()> {
        self.inner.append_subject_events(tenant_id, events).await
    }
    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>> {
        self.inner.subject_events(tenant_id, after, limit).await
    }
    async fn mark_once(&self, key: &str) -> StoreResult<bool> {
        self.inner.mark_once(key).await
    }
    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        self.inner.scan_consents(tenant_id).await
    }
    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>> {
        self.inner
            .latest_consents(tenant_id, purpose, subjects)
            .await
    }
    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()> {
        self.inner.put_consent_text(tenant_id, text).await
    }
    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>> {
        self.inner.consent_texts(tenant_id, purpose).await
    }
    async fn put_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<()> {
        self.inner.put_evidence(tenant_id, id, ciphertext).await
    }
    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.inner.evidence(tenant_id, id).await
    }
    async fn scan_evidence(
        &self,
        tenant_id: u64,
        after: Vec<u8>,
        limit: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan_evidence(tenant_id, after, limit).await
    }
    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        self.inner
            .replace_evidence(tenant_id, id, current, ciphertext)
            .await
    }
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.check()?;
        self.inner.append_audit(chain, entries).await
    }
    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.check()?;
        self.inner.append_audit_lazy(chain, entries).await
    }
    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.inner.read_audit(chain, from_seq, limit).await
    }
    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.inner.audit_head(chain).await
    }
    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()> {
        self.inner.put_audit_checkpoint(checkpoint).await
    }
    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        self.inner.audit_checkpoints(chain).await
    }
    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>> {
        self.inner.tenant_id_by_name(name).await
    }
    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        self.inner.tenants().await
    }
    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        self.inner.put_tenant(tenant).await
    }
    async fn delete_tenant_keys(&self, tenant_id: u64) -> StoreResult<()> {
        self.inner.delete_tenant_keys(tenant_id).await
    }
    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>> {
        self.inner.all_tenant_keys().await
    }
    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()> {
        self.inner.put_tenant_keys(keys).await
    }
    async fn sync(&self) -> StoreResult<()> {
        self.inner.sync().await
    }
    async fn sync_all(&self) -> StoreResult<()> {
        self.inner.sync_all().await
    }
    async fn request_compaction(&self) -> StoreResult<()> {
        self.inner.request_compaction().await
    }
    async fn size_on_disk(&self) -> StoreResult<u64> {
        self.inner.size_on_disk().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_released_or_changed_when_the_audit_log_fails() {
    let store_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let failing = Arc::new(AtomicBool::new(false));
    let store = AuditFault {
        inner: SledStore::open(store_dir.path()).unwrap_or_else(|e| panic!("{e}")),
        failing: Arc::clone(&failing),
    };
    let server = start_configured(|c| c.store = Some(StoreOverride(Arc::new(store))), None).await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "closed",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let cm = server.client(&t.consent_manager).await;
    let re = server.client(&t.reidentifier).await;
    let auditor = server.client(&t.auditor).await;
    let ps = pseudonymise_ok(&tok, "patients", &["closed-1", "closed-2"]).await;
    cm.consents()
        .grant_consent(grant("patients", "closed-1", "research", 1, 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let history = |id: &'static str| {
        let cm = cm.clone();
        async move {
            cm.consents()
                .get_consent_history(pb::GetConsentHistoryRequest {
                    subject: Some(pb::SubjectRef {
                        domain: "patients".into(),
                        by: Some(pb::subject_ref::By::Identifier(id.into())),
                    }),
                    purpose: "research".into(),
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .into_inner()
                .purposes
                .iter()
                .map(|p| p.events.len())
                .sum::<usize>()
        }
    };
    assert_eq!(history("closed-1").await, 1);
    assert_eq!(history("closed-2").await, 0);

    failing.store(true, Ordering::SeqCst);

    // Re-identification: refused as a whole, no identifier in the answer.
    let err = reidentify(&re, "patients", "research", &ps).await.err();
    assert_eq!(
        err.as_ref().map(tonic::Status::code),
        Some(Code::Unavailable)
    );
    assert!(!err.is_some_and(|s| s.message().contains("closed-1")));
    // Consent changes: refused, and the history is unchanged.
    let err = cm
        .consents()
        .grant_consent(grant("patients", "closed-2", "research", 1, 0))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    let err = cm
        .consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("closed-1".into())),
            }),
            purpose: "research".into(),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    assert_eq!(history("closed-1").await, 1);
    assert_eq!(history("closed-2").await, 0);
    // A key operation: refused, and the key ring is unchanged.
    let ko = server.client(&t.key_officer).await;
    let err = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));
    let versions = key_versions(&ko).await;
    assert_eq!(versions.len(), 1);
    let jobs = jobs(&ko).await;
    assert!(jobs.is_empty());
    // Reading the audit log is itself recorded, so it is refused too.
    let err = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(err, Some(Code::Unavailable));

    // Once the log works again, the consent still holds and release resumes, recorded.
    failing.store(false, Ordering::SeqCst);
    let released = reidentify(&re, "patients", "research", &ps)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(released[0], (pb::Verdict::Released, "closed-1".to_owned()));
    assert_eq!(released[1].0, pb::Verdict::NoConsent);
    let v = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner();
    assert!(v.ok, "{v:?}");
    server.stop().await;
}
