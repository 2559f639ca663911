//! PostgreSQL: the registry family (tenants, domains, purposes, record policies, principals, change
//! counters).

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{
    PgStore,
    sql::{BUMP, db_error, from_json, is_unique_violation, to_i64, to_json, to_u64},
};
use crate::store::{
    RegistryStore, StoreError, StoreResult,
    records::{
        AgreementRecord, DomainRecord, PrincipalRecord, PurposeRecord, RecordPolicyRecord,
        TenantRecord,
    },
};

impl PgStore {
    /// Rows of `sql` (one parameter list), each decoded from column 0 as JSON.
    pub(super) async fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<T>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db_error)?;
        let rows = client.query(&stmt, params).await.map_err(db_error)?;
        rows.iter().map(|r| from_json(r, 0)).collect()
    }

    /// The first row of [`PgStore::json_rows`].
    pub(super) async fn json_row<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Option<T>> {
        Ok(self.json_rows(sql, params).await?.into_iter().next())
    }

    /// Runs one statement; the number of rows it touched.
    pub(super) async fn exec(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db_error)?;
        client.execute(&stmt, params).await.map_err(db_error)
    }

    /// Runs one statement and, when it touched a row, raises `tenant`'s change counter, in one
    /// transaction.
    pub(super) async fn exec_and_bump(
        &self,
        tenant: i64,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let stmt = tx.prepare_cached(sql).await.map_err(db_error)?;
        let n = tx.execute(&stmt, params).await.map_err(db_error)?;
        if n > 0 {
            tx.execute(BUMP, &[&tenant]).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }
}

#[async_trait]
impl RegistryStore for PgStore {
    async fn next_id(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT nextval('valv_ids')", &[])
            .await
            .map_err(db_error)?;
        to_u64(row.try_get(0).map_err(db_error)?)
    }

    async fn advance_ids(&self, used: u64) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "SELECT setval('valv_ids', greatest((SELECT last_value FROM valv_ids), $1))",
                &[&to_i64(used.max(1))?],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<()> {
        let id = to_i64(tenant.id)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let inserted = tx
            .execute(
                "INSERT INTO tenants (id, name, record) VALUES ($1, $2, $3::text::jsonb) \
                 ON CONFLICT DO NOTHING",
                &[&id, &tenant.name, &to_json(tenant)?],
            )
            .await
            .map_err(db_error)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists("tenant"));
        }
        tx.execute(
            "INSERT INTO key_rings (tenant_id, ring) VALUES ($1, $2::text::jsonb) \
             ON CONFLICT (tenant_id) DO UPDATE SET ring = EXCLUDED.ring",
            &[&id, &to_json(keys)?],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn tenant(&self, id: u64) -> StoreResult<Option<TenantRecord>> {
        self.json_row(
            "SELECT record::text FROM tenants WHERE id = $1",
            &[&to_i64(id)?],
        )
        .await
    }

    async fn tenant_id_by_name(&self, name: &str) -> StoreResult<Option<u64>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id FROM tenants WHERE name = $1")
            .await
            .map_err(db_error)?;
        match client.query_opt(&stmt, &[&name]).await.map_err(db_error)? {
            Some(row) => Ok(Some(to_u64(row.try_get(0).map_err(db_error)?)?)),
            None => Ok(None),
        }
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantRecord>> {
        self.json_rows("SELECT record::text FROM tenants ORDER BY id", &[])
            .await
    }

    async fn put_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
        let id = to_i64(tenant.id)?;
        self.exec_and_bump(
            id,
            "INSERT INTO tenants (id, name, record) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, record = EXCLUDED.record",
            &[&id, &tenant.name, &to_json(tenant)?],
        )
        .await
        .map(|_| ())
    }

    async fn tenant_generation(&self, tenant_id: u64) -> StoreResult<u64> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT generation, deletions FROM tenant_generations WHERE tenant_id = $1",
            )
            .await
            .map_err(db_error)?;
        let (generation, deletions) = match client
            .query_opt(&stmt, &[&to_i64(tenant_id)?])
            .await
            .map_err(db_error)?
        {
            Some(row) => (
                to_u64(row.try_get(0).map_err(db_error)?)?,
                to_u64(row.try_get(1).map_err(db_error)?)?,
            ),
            None => (0, 0),
        };
        // Read at the start of every request: the invalidation rule of `known`.
        self.known.observed(tenant_id, generation, deletions);
        Ok(generation)
    }

    async fn create_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        let n = self
            .exec_and_bump(
                to_i64(domain.tenant_id)?,
                "INSERT INTO domains (id, tenant_id, name, record) \
                 VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT DO NOTHING",
                &[
                    &to_i64(domain.id)?,
                    &to_i64(domain.tenant_id)?,
                    &domain.name,
                    &to_json(domain)?,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::AlreadyExists("domain"));
        }
        Ok(())
    }

    async fn put_domain(&self, domain: &DomainRecord) -> StoreResult<()> {
        self.exec_and_bump(
            to_i64(domain.tenant_id)?,
            "INSERT INTO domains (id, tenant_id, name, record) VALUES ($1, $2, $3, $4::text::jsonb) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET record = EXCLUDED.record",
            &[
                &to_i64(domain.id)?,
                &to_i64(domain.tenant_id)?,
                &domain.name,
                &to_json(domain)?,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn domain(&self, tenant_id: u64, name: &str) -> StoreResult<Option<DomainRecord>> {
        self.json_row(
            "SELECT record::text FROM domains WHERE tenant_id = $1 AND name = $2",
            &[&to_i64(tenant_id)?, &name],
        )
        .await
    }

    async fn list_domains(&self, tenant_id: u64) -> StoreResult<Vec<DomainRecord>> {
        self.json_rows(
            "SELECT record::text FROM domains WHERE tenant_id = $1 ORDER BY name",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn put_purpose(&self, purpose: &PurposeRecord) -> StoreResult<()> {
        self.exec_and_bump(
            to_i64(purpose.tenant_id)?,
            "INSERT INTO purposes (tenant_id, name, record) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET record = EXCLUDED.record",
            &[
                &to_i64(purpose.tenant_id)?,
                &purpose.name,
                &to_json(purpose)?,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn purpose(&self, tenant_id: u64, name: &str) -> StoreResult<Option<PurposeRecord>> {
        self.json_row(
            "SELECT record::text FROM purposes WHERE tenant_id = $1 AND name = $2",
            &[&to_i64(tenant_id)?, &name],
        )
        .await
    }

    async fn list_purposes(&self, tenant_id: u64) -> StoreResult<Vec<PurposeRecord>> {
        self.json_rows(
            "SELECT record::text FROM purposes WHERE tenant_id = $1 ORDER BY name",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn create_agreement(&self, agreement: &AgreementRecord) -> StoreResult<()> {
        let n = self
            .exec(
                "INSERT INTO sharing_agreements (tenant_id, name, record) \
                 VALUES ($1, $2, $3::text::jsonb) ON CONFLICT DO NOTHING",
                &[
                    &to_i64(agreement.tenant_id)?,
                    &agreement.name,
                    &to_json(agreement)?,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::AlreadyExists("sharing agreement"));
        }
        Ok(())
    }

    async fn agreement(&self, tenant_id: u64, name: &str) -> StoreResult<Option<AgreementRecord>> {
        self.json_row(
            "SELECT record::text FROM sharing_agreements WHERE tenant_id = $1 AND name = $2",
            &[&to_i64(tenant_id)?, &name],
        )
        .await
    }

    async fn list_agreements(&self, tenant_id: u64) -> StoreResult<Vec<AgreementRecord>> {
        self.json_rows(
            "SELECT record::text FROM sharing_agreements WHERE tenant_id = $1 ORDER BY name",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn delete_agreement(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM sharing_agreements WHERE tenant_id = $1 AND name = $2",
                &[&to_i64(tenant_id)?, &name],
            )
            .await?;
        Ok(n > 0)
    }

    async fn put_record_policy(&self, policy: &RecordPolicyRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO record_policies (tenant_id, name, record) \
             VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET record = EXCLUDED.record",
            &[&to_i64(policy.tenant_id)?, &policy.name, &to_json(policy)?],
        )
        .await
        .map(|_| ())
    }

    async fn record_policy(
        &self,
        tenant_id: u64,
        name: &str,
    ) -> StoreResult<Option<RecordPolicyRecord>> {
        self.json_row(
            "SELECT record::text FROM record_policies WHERE tenant_id = $1 AND name = $2",
            &[&to_i64(tenant_id)?, &name],
        )
        .await
    }

    async fn list_record_policies(&self, tenant_id: u64) -> StoreResult<Vec<RecordPolicyRecord>> {
        self.json_rows(
            "SELECT record::text FROM record_policies WHERE tenant_id = $1 ORDER BY name",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn delete_record_policy(&self, tenant_id: u64, name: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM record_policies WHERE tenant_id = $1 AND name = $2",
                &[&to_i64(tenant_id)?, &name],
            )
            .await?;
        Ok(n > 0)
    }

    async fn put_principal(&self, principal: &PrincipalRecord) -> StoreResult<()> {
        let tenant = principal.tenant_id.map(to_i64).transpose()?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO principals (id, tenant_id, client_cert_sha256, record) \
                 VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (id) DO UPDATE SET \
                 tenant_id = EXCLUDED.tenant_id, client_cert_sha256 = EXCLUDED.client_cert_sha256, \
                 record = EXCLUDED.record",
            )
            .await
            .map_err(db_error)?;
        match client
            .execute(
                &stmt,
                &[
                    &principal.id,
                    &tenant,
                    &principal.client_cert_sha256,
                    &to_json(principal)?,
                ],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::AlreadyExists("client certificate binding"))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn replace_principal(
        &self,
        current: &PrincipalRecord,
        new: &PrincipalRecord,
    ) -> StoreResult<bool> {
        let tenant = new.tenant_id.map(to_i64).transpose()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The row is locked and compared as a record, not as JSON text: a row written by an
        // older version (fewer fields) still matches what was read from it.
        let Some(row) = tx
            .query_opt(
                "SELECT record::text FROM principals WHERE id = $1 FOR UPDATE",
                &[&new.id],
            )
            .await
            .map_err(db_error)?
        else {
            return Ok(false);
        };
        let stored: PrincipalRecord = from_json(&row, 0)?;
        if stored != *current {
            return Ok(false);
        }
        let updated = tx
            .execute(
                "UPDATE principals SET tenant_id = $2, client_cert_sha256 = $3, \
                 record = $4::text::jsonb WHERE id = $1",
                &[&new.id, &tenant, &new.client_cert_sha256, &to_json(new)?],
            )
            .await;
        match updated {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::AlreadyExists("client certificate binding"));
            }
            Err(e) => return Err(db_error(e)),
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn principal(&self, id: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.json_row("SELECT record::text FROM principals WHERE id = $1", &[&id])
            .await
    }

    async fn principal_by_cert(&self, sha256_hex: &str) -> StoreResult<Option<PrincipalRecord>> {
        self.json_row(
            "SELECT record::text FROM principals WHERE client_cert_sha256 = $1",
            &[&sha256_hex],
        )
        .await
    }

    async fn list_principals(&self, tenant_id: Option<u64>) -> StoreResult<Vec<PrincipalRecord>> {
        let tenant = tenant_id.map(to_i64).transpose()?;
        self.json_rows(
            "SELECT record::text FROM principals WHERE tenant_id IS NOT DISTINCT FROM $1 \
             ORDER BY id",
            &[&tenant],
        )
        .await
    }
}
