//! sled: the registry family (JSON rows in the `meta` tree).

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{LAST_ID, SledStore, backend, be_u64, generation_key, to_json};
use crate::store::{
    RegistryStore, StoreError, StoreResult,
    records::{
        AgreementRecord, DomainRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
        TenantRecord,
    },
};

#[async_trait]
impl RegistryStore for SledStore {
    async fn next_id(&self) -> StoreResult<u64> {
        let t = self.trees()?;
        // A counter row, not sled's `generate_id`: after a crash sled's id generator can start
        // again below ids it had handed out (seen in the crash campaign), and a domain id
        // handed out twice would put two domains' mappings under one key range. The row is
        // written before the record that uses the id, and sled recovers its log in order, so an
        // id whose record survived a crash is never handed out again.
        let last = t
            .meta
            .update_and_fetch(LAST_ID, |old| {
                let n = old.and_then(be_u64).unwrap_or(0);
                Some(n.saturating_add(1).to_be_bytes().to_vec())
            })
            .map_err(backend)?;
        t.commit.wrote();
        last.as_deref()
            .and_then(be_u64)
            .ok_or(StoreError::Corrupt("id counter"))
    }

    async fn advance_ids(&self, used: u64) -> StoreResult<()> {
        let t = self.trees()?;
        t.meta
            .update_and_fetch(LAST_ID, |old| {
                let n = old.and_then(be_u64).unwrap_or(0);
                Some(n.max(used).to_be_bytes().to_vec())
            })
            .map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()> {
        let t = self.trees()?;
        let id = tenant.id.to_string().into_bytes();
        if !self.insert_new(&format!("tenant-name/{}", tenant.name), id)? {
            return Err(StoreError::AlreadyExists("tenant"));
        }
        // The name row is the claim; the two rows after it are one batch.
        let mut batch = sled::Batch::default();
        batch.insert(
            format!("keys/{}", tenant.id).as_bytes(),
            super::to_json(keys)?,
        );
        batch.insert(
            format!("tenant/{}", tenant.id).as_bytes(),
            super::to_json(tenant)?,
        );
        t.meta.apply_batch(batch).map_err(backend)?;
        t.commit.wrote();
        Ok(())
    }

    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>> {
        self.get_json(&format!("tenant/{id}"))
    }

    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>> {
        match self
            .trees()?
            .meta
            .get(format!("tenant-name/{name}"))
            .map_err(backend)?
        {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or(StoreError::Corrupt("tenant name row")),
            None => Ok(None),
        }
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        let mut all: Vec<TenantRecord> = self.scan_json("tenant/")?;
        all.sort_by_key(|t| t.id);
        Ok(all)
    }

    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        self.put_json(&format!("tenant/{}", tenant.id), tenant)?;
        self.bump(tenant.id)
    }

    async fn tenant_generation(&self, tenant_id: u64) -> StoreResult<u64> {
        let stored = self
            .trees()?
            .meta
            .get(generation_key(tenant_id))
            .map_err(backend)?
            .and_then(|v| be_u64(&v))
            .unwrap_or(0);
        // Raised after each reopen of the engine (see `watch`).
        Ok(self.engine.generation(stored))
    }

    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        let bytes = serde_json::to_vec(domain).map_err(|_| StoreError::Corrupt("domain"))?;
        if !self.insert_new(
            &format!("domain/{}/{}", domain.tenant_id, domain.name),
            bytes,
        )? {
            return Err(StoreError::AlreadyExists("domain"));
        }
        self.bump(domain.tenant_id)
    }

    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        self.put_json(
            &format!("domain/{}/{}", domain.tenant_id, domain.name),
            domain,
        )?;
        self.bump(domain.tenant_id)
    }

    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>> {
        self.get_json(&format!("domain/{tenant_id}/{name}"))
    }

    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>> {
        self.scan_json(&format!("domain/{tenant_id}/"))
    }

    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()> {
        self.put_json(
            &format!("purpose/{}/{}", purpose.tenant_id, purpose.name),
            purpose,
        )?;
        self.bump(purpose.tenant_id)
    }

    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>> {
        self.get_json(&format!("purpose/{tenant_id}/{name}"))
    }

    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>> {
        self.scan_json(&format!("purpose/{tenant_id}/"))
    }

    async fn create_agreement(&self, agreement: &AgreementRecord) -> StoreResult<()> {
        let bytes =
            serde_json::to_vec(agreement).map_err(|_| StoreError::Corrupt("sharing agreement"))?;
        let key = format!("agreement/{}/{}", agreement.tenant_id, agreement.name);
        if !self.insert_new(&key, bytes)? {
            return Err(StoreError::AlreadyExists("sharing agreement"));
        }
        Ok(())
    }

    async fn agreement(&self, tenant_id: u64, name: &str) -> StoreResult<Option<AgreementRecord>> {
        self.get_json(&format!("agreement/{tenant_id}/{name}"))
    }

    async fn list_agreements(&self, tenant_id: u64) -> StoreResult<Vec<AgreementRecord>> {
        self.scan_json(&format!("agreement/{tenant_id}/"))
    }

    async fn delete_agreement(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        let t = self.trees()?;
        let old = t
            .meta
            .remove(format!("agreement/{tenant_id}/{name}"))
            .map_err(backend)?;
        t.commit.wrote();
        Ok(old.is_some())
    }

    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()> {
        self.put_json(
            &format!("rpolicy/{}/{}", policy.tenant_id, policy.name),
            policy,
        )
    }

    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>> {
        self.get_json(&format!("rpolicy/{tenant_id}/{name}"))
    }

    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>> {
        self.scan_json(&format!("rpolicy/{tenant_id}/"))
    }

    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        let t = self.trees()?;
        let old = t
            .meta
            .remove(format!("rpolicy/{tenant_id}/{name}"))
            .map_err(backend)?;
        t.commit.wrote();
        Ok(old.is_some())
    }

    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()> {
        if let Some(fp) = &principal.client_cert_sha256 {
            let key = format!("cert/{fp}");
            let swapped = self
                .trees()?
                .meta
                .compare_and_swap(&key, None::<&[u8]>, Some(principal.id.as_bytes()))
                .map_err(backend)?;
            if let Err(current) = swapped
                && current.current.as_deref() != Some(principal.id.as_bytes())
            {
                return Err(StoreError::AlreadyExists("client certificate binding"));
            }
        }
        self.put_json(&format!("principal/{}", principal.id), principal)
    }

    async fn replace_principal(
        &self,
        current: &PrincipalRecord,
        new: &PrincipalRecord,
    ) -> StoreResult<bool> {
        let t = self.trees()?;
        let key = format!("principal/{}", new.id);
        let Some(old) = t.meta.get(&key).map_err(backend)? else {
            return Ok(false);
        };
        let stored: PrincipalRecord =
            serde_json::from_slice(&old).map_err(|_| StoreError::Corrupt("registry row"))?;
        if stored != *current {
            return Ok(false);
        }
        // A new binding takes the certificate's index entry first; a lost swap gives it back.
        let bound_now = match &new.client_cert_sha256 {
            Some(fp) if stored.client_cert_sha256.as_ref() != Some(fp) => {
                let cert = format!("cert/{fp}");
                let swapped = t
                    .meta
                    .compare_and_swap(&cert, None::<&[u8]>, Some(new.id.as_bytes()))
                    .map_err(backend)?;
                if let Err(held) = swapped
                    && held.current.as_deref() != Some(new.id.as_bytes())
                {
                    return Err(StoreError::AlreadyExists("client certificate binding"));
                }
                Some(cert)
            }
            _ => None,
        };
        let swapped = t
            .meta
            .compare_and_swap(&key, Some(old), Some(to_json(new)?))
            .map_err(backend)?;
        if swapped.is_err() {
            if let Some(cert) = bound_now {
                t.meta.remove(cert).map_err(backend)?;
            }
            return Ok(false);
        }
        t.commit.wrote();
        Ok(true)
    }

    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.get_json(&format!("principal/{id}"))
    }

    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>> {
        match self
            .trees()?
            .meta
            .get(format!("cert/{sha256_hex}"))
            .map_err(backend)?
        {
            Some(id) => self.get_json(&format!("principal/{}", String::from_utf8_lossy(&id))),
            None => Ok(None),
        }
    }

    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>> {
        let all: Vec<PrincipalRecord> = self.scan_json("principal/")?;
        Ok(all
            .into_iter()
            .filter(|p| p.tenant_id == tenant_id)
            .collect())
    }
}
