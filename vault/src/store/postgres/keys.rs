//! PostgreSQL: the key family (wrapped key rings, key-use reservations, shredding).

use async_trait::async_trait;
use valv_kms::WrappedTenantKeys;

use super::{
    PgStore,
    sql::{BUMP, db_error, to_i32, to_i64, to_json, to_u32, to_u64},
};
use crate::store::{KeyStore, StoreResult};

impl PgStore {
    /// Runs a reservation: `sql` takes `keys` as $1, $2, then `n` as $3 and `limit` as $4, and
    /// returns the new total — no row when `n` more would pass the limit.
    async fn reserve(
        &self,
        sql: &str,
        keys: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let Ok(n) = i64::try_from(n) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db_error)?;
        let mut params = keys.to_vec();
        params.extend([&n as &(dyn tokio_postgres::types::ToSql + Sync), &limit]);
        let row = client.query_opt(&stmt, &params).await.map_err(db_error)?;
        row.map(|r| to_u64(r.try_get(0).map_err(db_error)?))
            .transpose()
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn tenant_keys(&self, tenant_id: u64) -> StoreResult<Option<WrappedTenantKeys>> {
        self.json_row(
            "SELECT ring::text FROM key_rings WHERE tenant_id = $1",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn put_tenant_keys(&self, keys: &WrappedTenantKeys) -> StoreResult<()> {
        let id = to_i64(keys.tenant_id)?;
        self.exec_and_bump(
            id,
            "INSERT INTO key_rings (tenant_id, ring) VALUES ($1, $2::text::jsonb) \
             ON CONFLICT (tenant_id) DO UPDATE SET ring = EXCLUDED.ring",
            &[&id, &to_json(keys)?],
        )
        .await
        .map(|_| ())
    }

    async fn replace_tenant_keys(
        &self,
        current: &WrappedTenantKeys,
        keys: &WrappedTenantKeys,
    ) -> StoreResult<bool> {
        let id = to_i64(keys.tenant_id)?;
        let n = self
            .exec_and_bump(
                id,
                "UPDATE key_rings SET ring = $3::text::jsonb \
                 WHERE tenant_id = $1 AND ring = $2::text::jsonb",
                &[&id, &to_json(current)?, &to_json(keys)?],
            )
            .await?;
        Ok(n == 1)
    }

    async fn all_tenant_keys(&self) -> StoreResult<Vec<WrappedTenantKeys>> {
        self.json_rows("SELECT ring::text FROM key_rings ORDER BY tenant_id", &[])
            .await
    }

    async fn shred_tenant(&self, tenant_id: u64, at_ms: i64) -> StoreResult<bool> {
        let id = to_i64(tenant_id)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let marked = tx
            .execute(
                "UPDATE tenants SET record = jsonb_set(record, '{shredded_ms}', to_jsonb($2::bigint)) \
                 WHERE id = $1",
                &[&id, &at_ms],
            )
            .await
            .map_err(db_error)?;
        if marked == 0 {
            return Ok(false);
        }
        tx.execute("DELETE FROM key_rings WHERE tenant_id = $1", &[&id])
            .await
            .map_err(db_error)?;
        tx.execute(BUMP, &[&id]).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn key_usage(&self, tenant_id: u64) -> StoreResult<Vec<(u32, u64)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT version, reserved FROM key_usage WHERE tenant_id = $1 ORDER BY version",
                &[&to_i64(tenant_id)?],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    to_u32(r.try_get(0).map_err(db_error)?)?,
                    to_u64(r.try_get(1).map_err(db_error)?)?,
                ))
            })
            .collect()
    }

    /// One statement: the row is created or raised only while the total stays within the
    /// limit; the row lock of the update orders concurrent reservations from every node.
    async fn reserve_key_usage(
        &self,
        tenant_id: u64,
        version: u32,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        self.reserve(
            "INSERT INTO key_usage AS u (tenant_id, version, reserved) \
             SELECT $1, $2, $3::bigint WHERE $3::bigint <= $4::bigint \
             ON CONFLICT (tenant_id, version) DO UPDATE \
             SET reserved = u.reserved + EXCLUDED.reserved \
             WHERE u.reserved <= $4::bigint - EXCLUDED.reserved \
             RETURNING reserved",
            &[&to_i64(tenant_id)?, &to_i32(version)?],
            n,
            limit,
        )
        .await
    }

    async fn reserve_budget(
        &self,
        scope: &str,
        window: i64,
        n: u64,
        limit: u64,
    ) -> StoreResult<Option<u64>> {
        // One statement: a newer window starts from zero, the same (or an older) one adds.
        self.reserve(
            "INSERT INTO budgets AS b (scope, win, used) \
             SELECT $1, $2, $3::bigint WHERE $3::bigint <= $4::bigint \
             ON CONFLICT (scope) DO UPDATE \
             SET win = GREATEST(b.win, EXCLUDED.win), \
                 used = CASE WHEN EXCLUDED.win > b.win THEN EXCLUDED.used \
                             ELSE b.used + EXCLUDED.used END \
             WHERE EXCLUDED.win > b.win OR b.used <= $4::bigint - EXCLUDED.used \
             RETURNING used",
            &[&scope, &window],
            n,
            limit,
        )
        .await
    }

    async fn budgets(&self, prefix: &str) -> StoreResult<Vec<(String, i64, u64)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT scope, win, used FROM budgets WHERE starts_with(scope, $1) ORDER BY scope",
                &[&prefix],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db_error)?,
                    r.try_get(1).map_err(db_error)?,
                    to_u64(r.try_get(2).map_err(db_error)?)?,
                ))
            })
            .collect()
    }
}
