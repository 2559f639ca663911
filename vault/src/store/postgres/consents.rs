//! PostgreSQL: the consent family. Histories are append-only (a trigger refuses updates other
//! than the one-time MAC of an event stored before MACs, migration 4); an event is inserted only
//! as its history's next number, and a concurrent append that took the same number loses on the
//! primary key.

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
        let json = to_json(&event)?;
        // Only as the history's next number: a concurrent append that took it first wins on
        // the primary key, and one that is ahead leaves the condition false.
        let inserted = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO consent_events (tenant_id, subject, purpose, seq, event) \
                 SELECT $1, $2, $3, $4::bigint, $5::text::jsonb \
                 WHERE (SELECT coalesce(max(seq), 0) FROM consent_events \
                        WHERE tenant_id = $1 AND subject = $2 AND purpose = $3) = $4::bigint - 1 \
                 RETURNING seq",
                &[
                    &to_i64(tenant_id)?,
                    &subject.as_slice(),
                    &purpose,
                    &to_i64(event.seq)?,
                    &json,
                ],
            )
            .await;
        match inserted {
            Ok(Some(_)) => Ok(event),
            Ok(None) => Err(StoreError::AlreadyExists("consent event")),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists("consent event")),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn seal_consent(
        &self,
        tenant_id: u64,
        subject: SubjectHandle,
        purpose: &str,
        event: &ConsentEvent,
    ) -> StoreResult<bool> {
        let (tenant, seq) = (to_i64(tenant_id)?, to_i64(event.seq)?);
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT event::text FROM consent_events \
                 WHERE tenant_id = $1 AND subject = $2 AND purpose = $3 AND seq = $4",
                &[&tenant, &subject.as_slice(), &purpose, &seq],
            )
            .await
            .map_err(db_error)?
        else {
            return Ok(false);
        };
        let stored_text: String = row.try_get(0).map_err(db_error)?;
        let stored: ConsentEvent = from_json(&row, 0)?;
        if !crate::store::consents::only_seals(&stored, event) {
            return Ok(false);
        }
        // Compare-and-swap on the stored text; the trigger allows only a MAC added.
        let n = client
            .execute(
                "UPDATE consent_events SET event = $5::text::jsonb \
                 WHERE tenant_id = $1 AND subject = $2 AND purpose = $3 AND seq = $4 \
                   AND event = $6::text::jsonb",
                &[
                    &tenant,
                    &subject.as_slice(),
                    &purpose,
                    &seq,
                    &to_json(event)?,
                    &stored_text,
                ],
            )
            .await
            .map_err(db_error)?;
        Ok(n == 1)
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
