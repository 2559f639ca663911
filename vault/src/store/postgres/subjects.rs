//! PostgreSQL: the subject family. Erasure is one transaction; a tenant's subject events are
//! numbered through its row in `subject_event_heads`, locked by the update that hands the
//! numbers out.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::{
    PgStore,
    sql::{BUMP, db_error, limit, to_i64, to_json, to_u64},
};
use crate::store::{
    Erasure, StoreResult, SubjectStore,
    records::{RestrictionRecord, SubjectEventRecord, TombstoneRecord},
};

/// Appends `events` to a tenant's log inside `tx`, numbering them after the current head.
async fn append_events(
    tx: &Transaction<'_>,
    tenant: i64,
    mut events: Vec<SubjectEventRecord>,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let head = tx
        .prepare_cached(
            "INSERT INTO subject_event_heads AS h (tenant_id, last_seq) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_seq = h.last_seq + EXCLUDED.last_seq \
             RETURNING last_seq",
        )
        .await
        .map_err(db_error)?;
    let last: i64 = tx
        .query_one(&head, &[&tenant, &n])
        .await
        .map_err(db_error)?
        .try_get(0)
        .map_err(db_error)?;
    let first = to_u64(last - n + 1)?;
    let mut seqs = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = first + i as u64;
        seqs.push(to_i64(e.seq)?);
        records.push(to_json(e)?);
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO subject_events (tenant_id, seq, record) \
             SELECT $1, s, r::jsonb FROM unnest($2::int8[], $3::text[]) AS x (s, r)",
        )
        .await
        .map_err(db_error)?;
    tx.execute(&insert, &[&tenant, &seqs, &records])
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl SubjectStore for PgStore {
    async fn put_restriction(&self, tenant_id: u64, r: &RestrictionRecord) -> StoreResult<()> {
        let tenant = to_i64(tenant_id)?;
        self.exec_and_bump(
            tenant,
            "INSERT INTO restrictions (tenant_id, subject, record) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (tenant_id, subject) DO UPDATE SET record = EXCLUDED.record",
            &[&tenant, &r.subject, &to_json(r)?],
        )
        .await
        .map(|_| ())
    }

    async fn delete_restriction(&self, tenant_id: u64, subject_hex: &str) -> StoreResult<bool> {
        let tenant = to_i64(tenant_id)?;
        let n = self
            .exec_and_bump(
                tenant,
                "DELETE FROM restrictions WHERE tenant_id = $1 AND subject = $2",
                &[&tenant, &subject_hex],
            )
            .await?;
        Ok(n > 0)
    }

    async fn restrictions(&self, tenant_id: u64) -> StoreResult<Vec<RestrictionRecord>> {
        self.json_rows(
            "SELECT record::text FROM restrictions WHERE tenant_id = $1 ORDER BY subject",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn put_tombstone(&self, tenant_id: u64, t: &TombstoneRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO tombstones (tenant_id, subject, record) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (tenant_id, subject) DO UPDATE SET record = EXCLUDED.record",
            &[&to_i64(tenant_id)?, &t.subject, &to_json(t)?],
        )
        .await
        .map(|_| ())
    }

    async fn tombstones(&self, tenant_id: u64) -> StoreResult<Vec<TombstoneRecord>> {
        self.json_rows(
            "SELECT record::text FROM tombstones WHERE tenant_id = $1 ORDER BY subject",
            &[&to_i64(tenant_id)?],
        )
        .await
    }

    async fn marks(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key FROM marks WHERE starts_with(key, $1) ORDER BY key",
                &[&prefix],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(db_error))
            .collect()
    }

    async fn tombstone(
        &self,
        tenant_id: u64,
        subject_hex: &str,
    ) -> StoreResult<Option<TombstoneRecord>> {
        self.json_row(
            "SELECT record::text FROM tombstones WHERE tenant_id = $1 AND subject = $2",
            &[&to_i64(tenant_id)?, &subject_hex],
        )
        .await
    }

    async fn erase_subject(
        &self,
        tenant_id: u64,
        erasure: Erasure,
    ) -> StoreResult<TombstoneRecord> {
        let tenant = to_i64(tenant_id)?;
        let mut tombstone = erasure.tombstone;
        let mut domains = Vec::with_capacity(erasure.mappings.len());
        let mut pseudonyms = Vec::with_capacity(erasure.mappings.len());
        let mut blind_domains = Vec::new();
        let mut blinds = Vec::new();
        for (domain, pseudonym, blind) in erasure.mappings {
            let domain = to_i64(domain)?;
            if let Some(b) = blind {
                blind_domains.push(domain);
                blinds.push(b.to_vec());
            }
            domains.push(domain);
            pseudonyms.push(pseudonym);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute(
            "DELETE FROM blind_index WHERE (domain_id, blind) IN \
             (SELECT * FROM unnest($1::int8[], $2::bytea[]))",
            &[&blind_domains, &blinds],
        )
        .await
        .map_err(db_error)?;
        tombstone.mappings = tx
            .execute(
                "DELETE FROM mappings WHERE (domain_id, pseudonym) IN \
                 (SELECT * FROM unnest($1::int8[], $2::bytea[]))",
                &[&domains, &pseudonyms],
            )
            .await
            .map_err(db_error)?;
        tombstone.evidence = tx
            .execute(
                "DELETE FROM evidence WHERE tenant_id = $1 AND id = ANY($2)",
                &[&tenant, &erasure.evidence],
            )
            .await
            .map_err(db_error)?;
        tombstone.consent_events = tx
            .execute(
                "DELETE FROM consent_events WHERE tenant_id = $1 AND subject = $2",
                &[&tenant, &erasure.subject.as_slice()],
            )
            .await
            .map_err(db_error)?;
        tx.execute(
            "DELETE FROM restrictions WHERE tenant_id = $1 AND subject = $2",
            &[&tenant, &tombstone.subject],
        )
        .await
        .map_err(db_error)?;
        tx.execute(
            "INSERT INTO tombstones (tenant_id, subject, record) VALUES ($1, $2, $3::text::jsonb) \
             ON CONFLICT (tenant_id, subject) DO UPDATE SET record = EXCLUDED.record",
            &[&tenant, &tombstone.subject, &to_json(&tombstone)?],
        )
        .await
        .map_err(db_error)?;
        append_events(&tx, tenant, erasure.events).await?;
        tx.execute(BUMP, &[&tenant]).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(tombstone)
    }

    async fn append_subject_events(
        &self,
        tenant_id: u64,
        events: Vec<SubjectEventRecord>,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        append_events(&tx, to_i64(tenant_id)?, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn subject_events(
        &self,
        tenant_id: u64,
        after: u64,
        limit_rows: usize,
    ) -> StoreResult<Vec<SubjectEventRecord>> {
        self.json_rows(
            "SELECT record::text FROM subject_events WHERE tenant_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
            &[
                &to_i64(tenant_id)?,
                &i64::try_from(after).unwrap_or(i64::MAX),
                &limit(limit_rows),
            ],
        )
        .await
    }

    async fn mark_once(&self, key: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "INSERT INTO marks (key) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&key],
            )
            .await?;
        Ok(n == 1)
    }
}
