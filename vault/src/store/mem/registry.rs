//! In memory: the registry, key and job families.

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{MemStore, State};
use crate::store::{
    JobStore, KeyStore, RegistryStore, RotationPage, StoreError, StoreResult,
    records::{
        AgreementRecord, DomainRecord, JobRecord, PendingOpRecord, PrincipalRecord, PurposeRecord,
        RecordPolicyRecord, TenantRecord,
    },
};

/// Stores `principal` and indexes its certificate, unless another principal holds that one.
fn store_principal(s: &mut State, principal: &PrincipalRecord) -> StoreResult<()> {
    if let Some(fp) = &principal.client_cert_sha256 {
        match s.certs.get(fp) {
            Some(holder) if *holder != principal.id => {
                return Err(StoreError::AlreadyExists("client certificate binding"));
            }
            _ => {
                s.certs.insert(fp.clone(), principal.id.clone());
            }
        }
    }
    s.principals.insert(principal.id.clone(), principal.clone());
    Ok(())
}

#[async_trait]
impl RegistryStore for MemStore {
    async fn next_id(&self) -> StoreResult<u64> {
        let mut s = self.state("next_id")?;
        s.next_id += 1;
        Ok(s.next_id)
    }

    async fn advance_ids(&self, used: u64) -> StoreResult<()> {
        let mut s = self.state("advance_ids")?;
        s.next_id = s.next_id.max(used);
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()> {
        let mut s = self.state("create_tenant")?;
        if s.tenant_names.contains_key(&tenant.name) {
            return Err(StoreError::AlreadyExists("tenant"));
        }
        s.tenant_names.insert(tenant.name.clone(), tenant.id);
        s.tenants.insert(tenant.id, tenant.clone());
        s.keys.insert(tenant.id, keys.clone());
        Ok(())
    }

    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>> {
        Ok(self.state("tenant")?.tenants.get(&id).cloned())
    }

    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>> {
        Ok(self
            .state("tenant_id_by_name")?
            .tenant_names
            .get(name)
            .copied())
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        Ok(self.state("tenants")?.tenants.values().cloned().collect())
    }

    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        let mut s = self.state("put_tenant")?;
        s.tenants.insert(tenant.id, tenant.clone());
        s.bump(tenant.id);
        Ok(())
    }

    async fn tenant_generation(&self, tenant_id: u64) -> StoreResult<u64> {
        Ok(self
            .state("tenant_generation")?
            .generations
            .get(&tenant_id)
            .copied()
            .unwrap_or(0))
    }

    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        let mut s = self.state("create_domain")?;
        let key = (domain.tenant_id, domain.name.clone());
        if s.domains.contains_key(&key) {
            return Err(StoreError::AlreadyExists("domain"));
        }
        s.domains.insert(key, domain.clone());
        s.bump(domain.tenant_id);
        Ok(())
    }

    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        let mut s = self.state("put_domain")?;
        s.domains
            .insert((domain.tenant_id, domain.name.clone()), domain.clone());
        s.bump(domain.tenant_id);
        Ok(())
    }

    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>> {
        Ok(self
            .state("domain")?
            .domains
            .get(&(tenant_id, name.to_owned()))
            .cloned())
    }

    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>> {
        let s = self.state("list_domains")?;
        Ok(s.domains
            .range((tenant_id, String::new())..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .map(|(_, d)| d.clone())
            .collect())
    }

    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()> {
        let mut s = self.state("put_purpose")?;
        s.purposes
            .insert((purpose.tenant_id, purpose.name.clone()), purpose.clone());
        s.bump(purpose.tenant_id);
        Ok(())
    }

    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>> {
        Ok(self
            .state("purpose")?
            .purposes
            .get(&(tenant_id, name.to_owned()))
            .cloned())
    }

    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>> {
        let s = self.state("list_purposes")?;
        Ok(s.purposes
            .range((tenant_id, String::new())..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .map(|(_, p)| p.clone())
            .collect())
    }

    async fn create_agreement(&self, agreement: &AgreementRecord) -> StoreResult<()> {
        let mut s = self.state("create_agreement")?;
        let key = (agreement.tenant_id, agreement.name.clone());
        if s.agreements.contains_key(&key) {
            return Err(StoreError::AlreadyExists("sharing agreement"));
        }
        s.agreements.insert(key, agreement.clone());
        Ok(())
    }

    async fn agreement(&self, tenant_id: u64, name: &str) -> StoreResult<Option<AgreementRecord>> {
        Ok(self
            .state("agreement")?
            .agreements
            .get(&(tenant_id, name.to_owned()))
            .cloned())
    }

    async fn list_agreements(&self, tenant_id: u64) -> StoreResult<Vec<AgreementRecord>> {
        let s = self.state("list_agreements")?;
        Ok(s.agreements
            .range((tenant_id, String::new())..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn delete_agreement(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        Ok(self
            .state("delete_agreement")?
            .agreements
            .remove(&(tenant_id, name.to_owned()))
            .is_some())
    }

    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()> {
        self.state("put_record_policy")?
            .policies
            .insert((policy.tenant_id, policy.name.clone()), policy.clone());
        Ok(())
    }

    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>> {
        Ok(self
            .state("record_policy")?
            .policies
            .get(&(tenant_id, name.to_owned()))
            .cloned())
    }

    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>> {
        let s = self.state("list_record_policies")?;
        Ok(s.policies
            .range((tenant_id, String::new())..)
            .take_while(|((t, _), _)| *t == tenant_id)
            .map(|(_, p)| p.clone())
            .collect())
    }

    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        Ok(self
            .state("delete_record_policy")?
            .policies
            .remove(&(tenant_id, name.to_owned()))
            .is_some())
    }

    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()> {
        let mut s = self.state("put_principal")?;
        store_principal(&mut s, principal)
    }

    async fn replace_principal(
        &self,
        current: &PrincipalRecord,
        new: &PrincipalRecord,
    ) -> StoreResult<bool> {
        let mut s = self.state("replace_principal")?;
        if s.principals.get(&new.id) != Some(current) {
            return Ok(false);
        }
        store_principal(&mut s, new).map(|()| true)
    }

    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>> {
        Ok(self.state("principal")?.principals.get(id).cloned())
    }

    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>> {
        let s = self.state("principal_by_cert")?;
        Ok(s.certs
            .get(sha256_hex)
            .and_then(|id| s.principals.get(id))
            .cloned())
    }

    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>> {
        Ok(self
            .state("list_principals")?
            .principals
            .values()
            .filter(|p| p.tenant_id == tenant_id)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl KeyStore for MemStore {
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>> {
        Ok(self.state("tenant_keys")?.keys.get(&tenant_id).cloned())
    }

    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()> {
        let mut s = self.state("put_tenant_keys")?;
        s.keys.insert(keys.tenant_id, keys.clone());
        s.bump(keys.tenant_id);
        Ok(())
    }

    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>> {
        Ok(self
            .state("all_tenant_keys")?
            .keys
            .values()
            .cloned()
            .collect())
    }

    async fn replace_tenant_keys(
        &self,
        current: &WrappedTenantKeys,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<bool> {
        let mut s = self.state("replace_tenant_keys")?;
        if s.keys.get(&keys.tenant_id) != Some(current) {
            return Ok(false);
        }
        s.keys.insert(keys.tenant_id, keys.clone());
        s.bump(keys.tenant_id);
        Ok(true)
    }

    async fn shred_tenant(&self, tenant_id: u64, at_ms: i64) -> StoreResult<bool> {
        let mut s = self.state("shred_tenant")?;
        let Some(tenant) = s.tenants.get_mut(&tenant_id) else {
            return Ok(false);
        };
        tenant.shredded_ms = at_ms;
        s.keys.remove(&tenant_id);
        s.bump(tenant_id);
        Ok(true)
    }

    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>> {
        let s = self.state("key_usage")?;
        Ok(s.usage
            .range((tenant_id, 0)..=(tenant_id, u32::MAX))
            .map(|((_, v), r)| (*v, *r))
            .collect())
    }

    async fn reserve_key_usage(
        &self,
        tenant_id: u64,
        version: u32,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        let mut s = self.state("reserve_key_usage")?;
        let reserved = s.usage.entry((tenant_id, version)).or_insert(0);
        match reserved.checked_add(n) {
            Some(total) if total <= limit => {
                *reserved = total;
                Ok(Some(total))
            }
            _ => Ok(None),
        }
    }

    async fn reserve_budget(
        &self,
        scope: &str,
        window: i64,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        let mut s = self.state("reserve_budget")?;
        let stored = s.budgets.get(scope).copied();
        let Some(next) = crate::store::keys::next_budget(stored, window, n, limit) else {
            return Ok(None);
        };
        s.budgets.insert(scope.to_owned(), next);
        Ok(Some(next.1))
    }

    async fn budgets(&self, prefix: &str) -> StoreResult<Vec<(String, i64, u64)>> {
        let s = self.state("budgets")?;
        let mut out: Vec<(String, i64, u64)> = s
            .budgets
            .iter()
            .filter(|(scope, _)| scope.starts_with(prefix))
            .map(|(scope, (win, used))| (scope.clone(), *win, *used))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl JobStore for MemStore {
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()> {
        self.state("put_job")?.jobs.insert(job.id, job.clone());
        Ok(())
    }

    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>> {
        Ok(self.state("job")?.jobs.get(&id).cloned())
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRecord>> {
        Ok(self.state("jobs")?.jobs.values().cloned().collect())
    }

    async fn claim_job(
        &self,
        id: u64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Option<JobRecord>> {
        let mut s = self.state("claim_job")?;
        let Some(job) = s.jobs.get_mut(&id) else {
            return Ok(None);
        };
        let free =
            job.lease_owner.is_empty() || job.lease_owner == owner || job.lease_until_ms < now_ms;
        if !job.is_running() || !free {
            return Ok(None);
        }
        job.lease_owner = owner.to_owned();
        job.lease_until_ms = until_ms;
        Ok(Some(job.clone()))
    }

    async fn save_job(&self, job: &JobRecord) -> StoreResult<bool> {
        let mut s = self.state("save_job")?;
        match s.jobs.get_mut(&job.id) {
            Some(stored) if stored.lease_owner == job.lease_owner => {
                *stored = job.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn commit_rotation_page(
        &self,
        job: &JobRecord,
        page: RotationPage,
    ) -> StoreResult<Option<Vec<bool>>> {
        self.faults.held("commit_rotation_page").await;
        let mut s = self.state("commit_rotation_page")?;
        if s.jobs.get(&job.id).map(|j| &j.lease_owner) != Some(&job.lease_owner) {
            return Ok(None);
        }
        let mut made = Vec::with_capacity(page.len());
        match page {
            RotationPage::Mappings { domain_id, moves } => {
                for (i, m) in moves.into_iter().enumerate() {
                    let row = s.mappings.get_mut(&(domain_id, m.pseudonym));
                    if let Some(stored) = row {
                        // A conflict fault hits a page's first move: the same record again
                        // when the job retries it alone.
                        if i == 0 && self.faults.conflicting("commit_rotation_page") {
                            // Changed between the job's read and this page (see
                            // `replace_ciphertext`): the creation time, bound to nothing.
                            stored.created_ms = stored.created_ms.saturating_add(1);
                            made.push(false);
                            continue;
                        }
                        if *stored == m.current {
                            stored.ciphertext = Some(m.ciphertext);
                            made.push(true);
                            continue;
                        }
                    }
                    made.push(false);
                }
            }
            RotationPage::Evidence { tenant_id, moves } => {
                for m in moves {
                    match s.evidence.get_mut(&(tenant_id, m.id)) {
                        Some(stored) if *stored == m.current => {
                            *stored = m.ciphertext;
                            made.push(true);
                        }
                        _ => made.push(false),
                    }
                }
            }
        }
        let mut saved = job.clone();
        saved.done += made.iter().filter(|m| **m).count() as u64;
        s.jobs.insert(job.id, saved);
        Ok(Some(made))
    }

    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()> {
        self.state("put_pending_op")?
            .pending
            .insert(op.id, op.clone());
        Ok(())
    }

    async fn transition_pending_op(
        &self,
        op: &PendingOpRecord,
        from_state: &str,
    ) -> StoreResult<bool> {
        let mut s = self.state("transition_pending_op")?;
        match s.pending.get_mut(&op.id) {
            Some(stored) if stored.state == from_state => {
                *stored = op.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>> {
        Ok(self
            .state("pending_ops")?
            .pending
            .values()
            .cloned()
            .collect())
    }
}
