//! Authenticated rows in use: every record that decides authorisation is sealed with its
//! tenant's row-integrity key when written and checked when read for a decision
//! (`engine::integrity`). A row that fails is never used: the read is refused (`DATA_LOSS`, or
//! `UNAUTHENTICATED` for a principal), counted in `valv_integrity_failures_total{kind}`, logged
//! and audited in its tenant's chain.
//!
//! Cache and invalidation: `verified` remembers the last record of each row that passed, and a
//! read whose record is *equal* to it skips the HMAC. It is a shortcut for unchanged content,
//! not a source of truth — the row is read from the store every time, so a change by any node
//! (or by an attacker) is a different record and is checked again.
//!
//! The request path (`App::current_domain`, `App::current_purpose`) also keeps the decoded,
//! checked domains and purposes, each stamped with its tenant's change counter as this process
//! had read it *before* reading the row. Every write of a domain or a purpose raises that counter
//! in the same store operation (the store contract), and every request reads the counter at its
//! start (`App::observe`), so an entry is served only while no node has changed any domain or
//! purpose of the tenant since it was read; a request never sees a change older than its start.

use std::{
    any::Any,
    collections::HashMap,
    sync::{Arc, Mutex},
};

use valv_kms::{SecretBytes, SecretKey};

use super::App;
use super::keys::DomainDataKeys;
use crate::{
    engine::{
        integrity::{self, Authenticated, Chained},
        scheme::Pseudonym,
    },
    error::{VaultError, VaultResult},
    store::records::{
        AgreementRecord, DomainRecord, MappingRecord, PrincipalRecord, PurposeRecord,
        RecordPolicyRecord, TenantRecord,
    },
};

/// Most rows remembered as verified; the map starts over when full.
const REMEMBERED: usize = 16_384;

type Verified = HashMap<(&'static str, u64, String), Arc<dyn Any + Send + Sync>>;
type Current = HashMap<(&'static str, u64, String), (u64, Arc<dyn Any + Send + Sync>)>;

/// Rows that passed their check, by (kind, chain, label); and the request path's decoded rows
/// with the change counter they were read under.
#[derive(Default)]
pub struct RowCache {
    verified: Mutex<Verified>,
    current: Mutex<Current>,
}

impl RowCache {
    fn passed<T: Authenticated>(&self, chain: u64, record: &T) -> bool {
        let key = (T::KIND, chain, record.label());
        self.verified.lock().is_ok_and(|m| {
            m.get(&key)
                .and_then(|v| v.downcast_ref::<T>())
                .is_some_and(|v| v == record)
        })
    }

    /// The row `name` of `kind` in `tenant` if it was read under change counter `stamp`.
    fn fresh<T: Clone + Send + Sync + 'static>(
        &self,
        kind: &'static str,
        tenant: u64,
        name: &str,
        stamp: u64,
    ) -> Option<T> {
        let m = self.current.lock().ok()?;
        let (at, row) = m.get(&(kind, tenant, name.to_owned()))?;
        (*at == stamp).then(|| row.downcast_ref::<T>().cloned())?
    }

    fn keep<T: Clone + Send + Sync + 'static>(
        &self,
        kind: &'static str,
        tenant: u64,
        stamp: u64,
        name: &str,
        row: &T,
    ) {
        if let Ok(mut m) = self.current.lock() {
            if m.len() >= REMEMBERED {
                m.clear();
            }
            m.insert(
                (kind, tenant, name.to_owned()),
                (stamp, Arc::new(row.clone())),
            );
        }
    }

    fn remember<T: Authenticated>(&self, chain: u64, record: &T) {
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= REMEMBERED {
                m.clear();
            }
            m.insert((T::KIND, chain, record.label()), Arc::new(record.clone()));
        }
    }
}

impl App {
    pub(super) async fn row_key(&self, chain: u64) -> VaultResult<SecretKey> {
        match self.keys.tenant_keys(chain).await {
            Ok(keys) => Ok(keys.row_integrity_key()),
            Err(VaultError::FailedPrecondition(_)) => Err(VaultError::FailedPrecondition(
                "tenant: its keys were destroyed (shredded); nothing of it can be used".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Sets `record`'s MAC (before it is written).
    pub async fn seal<T: Chained>(&self, record: &mut T) -> VaultResult<()> {
        self.seal_in(record.chain(), record).await
    }

    /// Sets the MAC of `record`, a row of tenant `chain`.
    pub async fn seal_in<T: Authenticated>(&self, chain: u64, record: &mut T) -> VaultResult<()> {
        let key = self.row_key(chain).await?;
        record.set_mac(integrity::mac(&key, record));
        Ok(())
    }

    /// `record` if its MAC holds; else refused, counted, logged and audited.
    pub async fn verified<T: Chained>(&self, record: T) -> VaultResult<T> {
        self.verified_in(record.chain(), record).await
    }

    /// [`Self::verified`] for a row of tenant `chain`.
    pub async fn verified_in<T: Authenticated>(&self, chain: u64, record: T) -> VaultResult<T> {
        if self.rows.passed(chain, &record) {
            return Ok(record);
        }
        let key = self.row_key(chain).await?;
        if integrity::verify(&key, &record) {
            self.rows.remember(chain, &record);
            return Ok(record);
        }
        Err(self.tampered(T::KIND, chain, &record.label()).await)
    }

    /// [`Self::verified`] for each, in order.
    pub async fn all_verified<T: Chained>(&self, records: Vec<T>) -> VaultResult<Vec<T>> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.verified(r).await?);
        }
        Ok(out)
    }

    /// [`Self::verified_in`] for each, in order.
    pub async fn all_verified_in<T: Authenticated>(
        &self,
        chain: u64,
        records: Vec<T>,
    ) -> VaultResult<Vec<T>> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.verified_in(chain, r).await?);
        }
        Ok(out)
    }

    /// Counts, logs and audits a row that failed its integrity check; the error to answer with.
    pub(crate) async fn tampered(&self, kind: &'static str, chain: u64, label: &str) -> VaultError {
        self.metrics.integrity_failure(kind);
        tracing::error!(
            kind,
            chain,
            row = label,
            "a stored row failed its integrity check and is not used: it was changed outside the vault"
        );
        let mut entry = crate::audit::entry(self.now_ms(), "valv", "integrity.refused");
        entry.items = vec![(format!("{kind}:{label}"), "refused".into())];
        entry.verdict = Some("tampered".into());
        if let Err(e) = self.audit.append_lazy(chain, entry).await {
            tracing::error!(error = %e, "the integrity failure could not be audited");
        }
        if kind == "principal" {
            return VaultError::Unauthenticated(
                "the principal's stored record failed its integrity check; it is not used",
            );
        }
        VaultError::Tampered(format!(
            "{kind} {label}: its stored record failed its integrity check (changed outside the vault); it is not used, nothing was released"
        ))
    }

    /// Opens a mapping's identifier with `keys` (see [`DomainDataKeys::open`]); a row that fails
    /// its integrity check is counted, logged and audited like any other ([`App::tampered`],
    /// named by its pseudonym) and the call is refused.
    pub(crate) async fn open_mapping(
        &self,
        keys: &mut DomainDataKeys,
        domain: &DomainRecord,
        pseudonym: &[u8],
        record: &MappingRecord,
    ) -> VaultResult<Option<SecretBytes>> {
        match keys.open(pseudonym, record) {
            Err(VaultError::Tampered(_)) => {
                let label = Pseudonym(pseudonym.to_vec()).declassify(domain.scheme);
                Err(self.tampered("mapping", domain.tenant_id, &label).await)
            }
            other => other,
        }
    }

    /// A principal by id, checked.
    pub async fn principal(&self, id: &str) -> VaultResult<Option<PrincipalRecord>> {
        match self.store.principal(id).await? {
            Some(p) => Ok(Some(self.verified(p).await?)),
            None => Ok(None),
        }
    }

    /// A principal by client-certificate fingerprint, checked.
    pub async fn principal_by_cert(
        &self,
        sha256_hex: &str,
    ) -> VaultResult<Option<PrincipalRecord>> {
        match self.store.principal_by_cert(sha256_hex).await? {
            Some(p) => Ok(Some(self.verified(p).await?)),
            None => Ok(None),
        }
    }

    /// Principals of a tenant (`None`: operators), checked.
    pub async fn principals(&self, tenant_id: Option<u64>) -> VaultResult<Vec<PrincipalRecord>> {
        let list = self.store.list_principals(tenant_id).await?;
        self.all_verified(list).await
    }

    /// Stores a new or changed principal, sealed.
    pub async fn put_principal(&self, principal: &PrincipalRecord) -> VaultResult<()> {
        let mut p = principal.clone();
        self.seal(&mut p).await?;
        Ok(self.store.put_principal(&p).await?)
    }

    /// Compare-and-swap of a principal (`current` as read), the new state sealed; returns the
    /// stored record when it took effect, `None` when another request changed it first.
    pub async fn replace_principal(
        &self,
        current: &PrincipalRecord,
        next: &PrincipalRecord,
    ) -> VaultResult<Option<PrincipalRecord>> {
        let mut p = next.clone();
        self.seal(&mut p).await?;
        // A certificate bound to another principal: ALREADY_EXISTS naming it (error.rs).
        Ok(self
            .store
            .replace_principal(current, &p)
            .await?
            .then_some(p))
    }

    /// A purpose, checked.
    pub async fn purpose(&self, tenant_id: u64, name: &str) -> VaultResult<Option<PurposeRecord>> {
        match self.store.purpose(tenant_id, name).await? {
            Some(p) => Ok(Some(self.verified(p).await?)),
            None => Ok(None),
        }
    }

    /// A purpose, checked, for a request (which read its tenant's change counter at its start):
    /// from memory while no purpose or domain of the tenant changed since it was read.
    pub async fn current_purpose(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> VaultResult<Option<PurposeRecord>> {
        let stamp = self.generation_seen(tenant_id);
        if let Some(p) = self.rows.fresh("purpose", tenant_id, name, stamp) {
            return Ok(Some(p));
        }
        let found = self.purpose(tenant_id, name).await?;
        if let Some(p) = &found {
            self.rows.keep("purpose", tenant_id, stamp, name, p);
        }
        Ok(found)
    }

    /// The tenant's purposes, checked.
    pub async fn purposes(&self, tenant_id: u64) -> VaultResult<Vec<PurposeRecord>> {
        let list = self.store.list_purposes(tenant_id).await?;
        self.all_verified(list).await
    }

    /// Stores a purpose, sealed.
    pub async fn put_purpose(&self, purpose: &PurposeRecord) -> VaultResult<()> {
        let mut p = purpose.clone();
        self.seal(&mut p).await?;
        Ok(self.store.put_purpose(&p).await?)
    }

    /// A domain, checked.
    pub async fn domain(&self, tenant_id: u64, name: &str) -> VaultResult<Option<DomainRecord>> {
        match self.store.domain(tenant_id, name).await? {
            Some(d) => Ok(Some(self.verified(d).await?)),
            None => Ok(None),
        }
    }

    /// A domain, checked, for a request (see [`App::current_purpose`]).
    pub async fn current_domain(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> VaultResult<Option<DomainRecord>> {
        let stamp = self.generation_seen(tenant_id);
        if let Some(d) = self.rows.fresh("domain", tenant_id, name, stamp) {
            return Ok(Some(d));
        }
        let found = self.domain(tenant_id, name).await?;
        if let Some(d) = &found {
            self.rows.keep("domain", tenant_id, stamp, name, d);
        }
        Ok(found)
    }

    /// The tenant's domains, checked.
    pub async fn domains(&self, tenant_id: u64) -> VaultResult<Vec<DomainRecord>> {
        let list = self.store.list_domains(tenant_id).await?;
        self.all_verified(list).await
    }

    /// Creates a domain, sealed.
    pub async fn create_domain(&self, domain: &DomainRecord) -> VaultResult<()> {
        let mut d = domain.clone();
        self.seal(&mut d).await?;
        Ok(self.store.create_domain(&d).await?)
    }

    /// Stores a changed domain, sealed.
    pub async fn put_domain(&self, domain: &DomainRecord) -> VaultResult<()> {
        let mut d = domain.clone();
        self.seal(&mut d).await?;
        Ok(self.store.put_domain(&d).await?)
    }

    /// A record policy, checked.
    pub async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> VaultResult<Option<RecordPolicyRecord>> {
        match self.store.record_policy(tenant_id, name).await? {
            Some(p) => Ok(Some(self.verified(p).await?)),
            None => Ok(None),
        }
    }

    /// The tenant's record policies, checked.
    pub async fn record_policies(&self, tenant_id: u64) -> VaultResult<Vec<RecordPolicyRecord>> {
        let list = self.store.list_record_policies(tenant_id).await?;
        self.all_verified(list).await
    }

    /// Stores a record policy, sealed.
    pub async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> VaultResult<()> {
        let mut p = policy.clone();
        self.seal(&mut p).await?;
        Ok(self.store.put_record_policy(&p).await?)
    }

    /// A sharing agreement, checked.
    pub async fn agreement(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> VaultResult<Option<AgreementRecord>> {
        match self.store.agreement(tenant_id, name).await? {
            Some(a) => Ok(Some(self.verified(a).await?)),
            None => Ok(None),
        }
    }

    /// The tenant's sharing agreements, checked.
    pub async fn agreements(&self, tenant_id: u64) -> VaultResult<Vec<AgreementRecord>> {
        let list = self.store.list_agreements(tenant_id).await?;
        self.all_verified(list).await
    }

    /// Stores a new sharing agreement, sealed (`AlreadyExists` when the name is taken).
    pub async fn create_agreement(&self, agreement: &AgreementRecord) -> VaultResult<()> {
        let mut a = agreement.clone();
        self.seal(&mut a).await?;
        Ok(self.store.create_agreement(&a).await?)
    }

    /// A tenant's record (its settings), checked.
    pub async fn tenant(&self, tenant_id: u64) -> VaultResult<Option<TenantRecord>> {
        match self.store.tenant(tenant_id).await? {
            Some(t) => Ok(Some(self.verified(t).await?)),
            None => Ok(None),
        }
    }

    /// Stores a tenant's changed record, sealed.
    pub async fn put_tenant(&self, tenant: &TenantRecord) -> VaultResult<()> {
        let mut t = tenant.clone();
        self.seal(&mut t).await?;
        Ok(self.store.put_tenant(&t).await?)
    }
}

#[cfg(test)]
mod bench {
    #![allow(clippy::unwrap_used)]

    /// What a checked read adds to a raw store read when the row is unchanged (the hot path):
    /// a measurement for BENCHMARKS.md, not a test — run it with
    /// `cargo test --release -p valv --lib app::rows::bench -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "a benchmark; prints figures"]
    async fn checked_reads_against_raw_reads() {
        let nodes = crate::testkit::Nodes::new();
        let app = nodes.node(crate::config::Limits::default()).await;
        let (tenant, _) = crate::testkit::clinic(&app, 1).await;
        let p = app.principals(Some(tenant)).await.unwrap().remove(0);
        let n = 200_000u32;
        for round in 1..=3 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(app.store.principal(&p.id).await.unwrap());
            }
            let raw_principal = t.elapsed() / n;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(app.principal(&p.id).await.unwrap());
            }
            let principal = t.elapsed() / n;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(app.store.domain(tenant, "patients").await.unwrap());
            }
            let raw_domain = t.elapsed() / n;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(app.domain(tenant, "patients").await.unwrap());
            }
            let domain = t.elapsed() / n;
            eprintln!(
                "round {round}: principal raw {raw_principal:?}, checked {principal:?}; domain raw {raw_domain:?}, checked {domain:?}"
            );
        }
    }
}
