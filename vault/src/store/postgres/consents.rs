//! PostgreSQL: the consent family. Histories are append-only (a trigger refuses updates); the
//! next sequence number of a history is taken in the insert itself, and a concurrent append
//! to the same history that took the same number loses on the primary key and tries again.

use async_trait::async_trait;

use super::{
    PgStore,
    sql::{db_error, from_json, is_unique_violation, limit, to_i32, to_i64, to_json},
};
use crate::{
    model::{ConsentEvent, SubjectHandle},
    store::{ConsentStore, StoreError, StoreResult, records::ConsentTextRecord},
};

fn handle(bytes: Vec<u8>) -> StoreResult<SubjectHandle> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("subject handle"))
}

#[async_trait]
impl ConsentStore for PgStore {
    async fn append_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: ConsentEvent,
    ) -> StoreResult<ConsentEvent> {
        let tenant = to_i64(tenant_id)?;
        let json = to_json(&event)?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO consent_events (tenant_id, subject, purpose, seq, event) \
                 SELECT $1, $2, $3, n, jsonb_set($4::text::jsonb, '{seq}', to_jsonb(n)) \
                 FROM (SELECT coalesce(max(seq), 0) + 1 AS n FROM consent_events \
                       WHERE tenant_id = $1 AND subject = $2 AND purpose = $3) AS next \
                 RETURNING event::text",
            )
            .await
            .map_err(db_error)?;
        for _ in 0..32 {
            match client
                .query_one(&stmt, &[&tenant, &subject.as_slice(), &purpose, &json])
                .await
            {
                Ok(row) => return from_json(&row, 0),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(db_error(e)),
            }
        }
        Err(StoreError::Backend(
            "consent history: too many concurrent appends".into(),
        ))
    }

    async fn consent_history(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentEvent>> {
        self.json_rows(
            "SELECT event::text FROM consent_events \
             WHERE tenant_id = $1 AND subject = $2 AND purpose = $3 ORDER BY seq",
            &[&to_i64(tenant_id)?, &subject.as_slice(), &purpose],
        )
        .await
    }

    async fn scan_consents(
        &self,
        tenant_id: u64,
    ) -> StoreResult<Vec<(SubjectHandle, String, ConsentEvent)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT subject, purpose, event::text FROM consent_events WHERE tenant_id = $1 \
                 ORDER BY subject, purpose, seq",
                &[&to_i64(tenant_id)?],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    handle(r.try_get(0).map_err(db_error)?)?,
                    r.try_get(1).map_err(db_error)?,
                    from_json(r, 2)?,
                ))
            })
            .collect()
    }

    async fn latest_consents(
        &self,
        tenant_id: u64,
        purpose: &str,
        subjects: Vec<SubjectHandle>,
    ) -> StoreResult<Vec<Option<ConsentEvent>>> {
        let wanted: Vec<Vec<u8>> = subjects.iter().map(|s| s.to_vec()).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT ON (subject) subject, event::text FROM consent_events \
                 WHERE tenant_id = $1 AND purpose = $2 AND subject = ANY($3) \
                 ORDER BY subject, seq DESC",
            )
            .await
            .map_err(db_error)?;
        let rows = client
            .query(&stmt, &[&to_i64(tenant_id)?, &purpose, &wanted])
            .await
            .map_err(db_error)?;
        let mut latest = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            latest.insert(handle(r.try_get(0).map_err(db_error)?)?, r);
        }
        subjects
            .iter()
            .map(|s| latest.get(s).map(|r| from_json(r, 1)).transpose())
            .collect()
    }

    async fn delete_consents(&self, tenant_id: u64, subject: SubjectHandle) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM consent_events WHERE tenant_id = $1 AND subject = $2",
            &[&to_i64(tenant_id)?, &subject.as_slice()],
        )
        .await
    }

    async fn put_consent_text(&self, tenant_id: u64, text: &ConsentTextRecord) -> StoreResult<()> {
        let n = self
            .exec(
                "INSERT INTO consent_texts (tenant_id, purpose, version, record) \
                 VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT DO NOTHING",
                &[
                    &to_i64(tenant_id)?,
                    &text.purpose,
                    &to_i32(text.version)?,
                    &to_json(text)?,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::AlreadyExists("consent text version"));
        }
        Ok(())
    }

    async fn consent_texts(
        &self,
        tenant_id: u64,
        purpose: &str,
    ) -> StoreResult<Vec<ConsentTextRecord>> {
        self.json_rows(
            "SELECT record::text FROM consent_texts WHERE tenant_id = $1 AND purpose = $2 \
             ORDER BY version",
            &[&to_i64(tenant_id)?, &purpose],
        )
        .await
    }

    async fn put_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO evidence (tenant_id, id, ciphertext) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext",
            &[&to_i64(tenant_id)?, &id, &ciphertext],
        )
        .await
        .map(|_| ())
    }

    async fn evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT ciphertext FROM evidence WHERE tenant_id = $1 AND id = $2",
                &[&to_i64(tenant_id)?, &id],
            )
            .await
            .map_err(db_error)?;
        row.map(|r| r.try_get(0).map_err(db_error)).transpose()
    }

    async fn scan_evidence(
        &self,
        tenant_id: u64,
        after: Vec<u8>,
        limit_rows: usize,
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, ciphertext FROM evidence WHERE tenant_id = $1 AND id > $2 \
                 ORDER BY id LIMIT $3",
                &[&to_i64(tenant_id)?, &after, &limit(limit_rows)],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db_error)?,
                    r.try_get(1).map_err(db_error)?,
                ))
            })
            .collect()
    }

    async fn replace_evidence(
        &self,
        tenant_id: u64,
        id: &[u8],
        current: &[u8],
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE evidence SET ciphertext = $4 \
                 WHERE tenant_id = $1 AND id = $2 AND ciphertext = $3",
                &[&to_i64(tenant_id)?, &id, &current, &ciphertext],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_evidence(&self, tenant_id: u64, id: &[u8]) -> StoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM evidence WHERE tenant_id = $1 AND id = $2",
                &[&to_i64(tenant_id)?, &id],
            )
            .await?;
        Ok(n == 1)
    }
}
