//! The registry family: tenants, domains, purposes, record policies, principals, and each
//! tenant's change counter.

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{
    StoreResult,
    records::{
        AgreementRecord, DomainRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
        TenantRecord,
    },
};

/// Tenants, domains, purposes, record policies and principals.
#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    /// A fresh id for tenants, domains, jobs and pending operations (unique, never reused, never
    /// 0), also across processes sharing the store.
    async fn next_id(&self) -> StoreResult<u64>;
    /// Makes every later [`RegistryStore::next_id`] answer above `used` (for data copied in
    /// from another store).
    async fn advance_ids(&self, used: u64) -> StoreResult<()>;

    /// Stores a new tenant with its wrapped keys, both or neither. `AlreadyExists` if the name
    /// is taken.
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()>;
    /// A tenant by id.
    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>>;
    /// A tenant id by name.
    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>>;
    /// Every tenant, by id.
    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>>;
    /// Replaces a tenant record (raises the tenant's change counter).
    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()>;
    /// The tenant's change counter: raised by every change a vault process may cache (key ring,
    /// shredding, restrictions, erasure, the tenant record), after the change is visible. 0 for
    /// a tenant never changed.
    async fn tenant_generation(&self, tenant_id: u64) -> StoreResult<u64>;

    /// Stores a new domain. `AlreadyExists` if the tenant has a domain of that name.
    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()>;
    /// Replaces an existing domain record (epoch changes).
    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()>;
    /// A domain by tenant and name.
    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>>;
    /// All domains of a tenant, by name.
    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>>;

    /// Creates or replaces a purpose.
    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()>;
    /// A purpose by tenant and name.
    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>>;
    /// All purposes of a tenant, by name.
    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>>;

    /// Stores a new sharing agreement; `AlreadyExists` when the tenant has one of that name
    /// (atomic: of two nodes defining the same name, one wins).
    async fn create_agreement(&self, agreement: &AgreementRecord) -> StoreResult<()>;
    /// A tenant's sharing agreement by name.
    async fn agreement(&self, tenant_id: u64, name: &str) -> StoreResult<Option<AgreementRecord>>;
    /// A tenant's sharing agreements, by name.
    async fn list_agreements(&self, tenant_id: u64) -> StoreResult<Vec<AgreementRecord>>;
    /// Deletes a sharing agreement; false when there was none.
    async fn delete_agreement(&self, tenant_id: u64, name: &str) -> StoreResult<bool>;

    /// Creates or replaces a record policy.
    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()>;
    /// A record policy by tenant and name.
    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>>;
    /// All record policies of a tenant, by name.
    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>>;
    /// Deletes a record policy; false if there was none.
    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool>;

    /// Creates or replaces a principal and indexes its client certificate. `AlreadyExists` if
    /// the certificate is bound to another principal (nothing written).
    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()>;
    /// Replaces a principal only if it is stored exactly as `current` (compare-and-swap): of a
    /// revocation, a claim and a certificate binding racing on any nodes, none is lost. False if
    /// it changed (or is gone); `AlreadyExists` if `new` binds a certificate another principal
    /// holds. Nothing is written unless it returns true.
    async fn replace_principal(
        &self,
        current: &PrincipalRecord,
        new: &PrincipalRecord,
    ) -> StoreResult<bool>;
    /// A principal by id.
    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>>;
    /// A principal by client-certificate fingerprint.
    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>>;
    /// Principals of a tenant (`None`: operators), by id.
    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>>;
}
