//! PostgreSQL: the audit family. An append locks its chain's row in `audit_heads` (taken by the
//! first statement of the transaction and held to its commit), links the entries after the
//! head it read and moves the head — so appends from any number of nodes queue on that row and
//! a chain can neither fork nor leave a gap. Entries are append-only (a trigger refuses
//! updates and deletes).

use async_trait::async_trait;
use prost::Message;
use valv_proto::v1::{AuditCheckpoint, AuditEntry};

use super::audit_index::index;
use super::{
    PgStore,
    sql::{db_error, limit, to_i64, to_u64},
};
use crate::store::{
    AuditStore, StoreError, StoreResult,
    audit::{decode_entry, subjects_named},
    records::AuditRecord,
};

impl PgStore {
    async fn append(&self, chain: u64, entries: Vec<AuditRecord>, lazy: bool) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let chain_id = to_i64(chain)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if lazy {
            // Entries whose audit may trail (pseudonymise counts): the commit does not wait for
            // its flush; the next synchronous commit, or `sync_all`, covers it.
            tx.batch_execute("SET LOCAL synchronous_commit = off")
                .await
                .map_err(db_error)?;
        }
        let lock = tx
            .prepare_cached(
                "INSERT INTO audit_heads AS h (chain, seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (chain) DO UPDATE SET chain = h.chain RETURNING seq, hash",
            )
            .await
            .map_err(db_error)?;
        let head = tx
            .query_one(&lock, &[&chain_id, &valv_proto::audit::GENESIS.as_slice()])
            .await
            .map_err(db_error)?;
        let mut seq = to_u64(head.try_get(0).map_err(db_error)?)? + 1;
        let mut prev: Vec<u8> = head.try_get(1).map_err(db_error)?;
        let mut seqs = Vec::with_capacity(entries.len());
        let mut bytes = Vec::with_capacity(entries.len());
        let mut named = Vec::new();
        for record in entries {
            let entry = record.chained(chain, seq, prev);
            seqs.push(to_i64(seq)?);
            bytes.push(entry.encode_to_vec());
            prev = entry.hash.clone();
            seq += 1;
            if !subjects_named(&entry).is_empty() {
                named.push(entry);
            }
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO audit_entries (chain, seq, entry) \
                 SELECT $1, s, e FROM unnest($2::int8[], $3::bytea[]) AS x (s, e)",
            )
            .await
            .map_err(db_error)?;
        tx.execute(&insert, &[&chain_id, &seqs, &bytes])
            .await
            .map_err(db_error)?;
        index(&tx, &named).await?;
        let last = to_i64(seq - 1)?;
        let advance = tx
            .prepare_cached("UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1")
            .await
            .map_err(db_error)?;
        tx.execute(&advance, &[&chain_id, &last, &prev])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append(chain, entries, false).await
    }

    async fn append_audit_lazy(&self, chain: u64, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.append(chain, entries, true).await
    }

    async fn read_audit(
        &self,
        chain: u64,
        from_seq: u64,
        limit_rows: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT entry FROM audit_entries WHERE chain = $1 AND seq >= $2 \
                 ORDER BY seq LIMIT $3",
            )
            .await
            .map_err(db_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &to_i64(chain)?,
                    &i64::try_from(from_seq).unwrap_or(i64::MAX),
                    &limit(limit_rows),
                ],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get(0).map_err(db_error)?;
                decode_entry(&bytes)
            })
            .collect()
    }

    async fn subject_audit(
        &self,
        chain: u64,
        subject: &str,
        after: u64,
        limit_rows: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT e.entry FROM audit_subjects x \
                 JOIN audit_entries e ON e.chain = x.chain AND e.seq = x.seq \
                 WHERE x.chain = $1 AND x.subject = $2 AND x.seq > $3 ORDER BY x.seq LIMIT $4",
            )
            .await
            .map_err(db_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &to_i64(chain)?,
                    &subject,
                    &i64::try_from(after).unwrap_or(i64::MAX),
                    &limit(limit_rows),
                ],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get(0).map_err(db_error)?;
                decode_entry(&bytes)
            })
            .collect()
    }

    async fn audit_head(&self, chain: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT seq, hash FROM audit_heads WHERE chain = $1 AND seq > 0")
            .await
            .map_err(db_error)?;
        let row = client
            .query_opt(&stmt, &[&to_i64(chain)?])
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok((
                to_u64(r.try_get(0).map_err(db_error)?)?,
                r.try_get(1).map_err(db_error)?,
            ))
        })
        .transpose()
    }

    async fn put_audit_checkpoint(&self, checkpoint: &AuditCheckpoint) -> StoreResult<()> {
        self.exec(
            "INSERT INTO audit_checkpoints (chain, seq, checkpoint) VALUES ($1, $2, $3) \
             ON CONFLICT (chain, seq) DO UPDATE SET checkpoint = EXCLUDED.checkpoint",
            &[
                &to_i64(checkpoint.chain)?,
                &to_i64(checkpoint.seq)?,
                &checkpoint.encode_to_vec(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn audit_checkpoints(&self, chain: u64) -> StoreResult<Vec<AuditCheckpoint>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT checkpoint FROM audit_checkpoints WHERE chain = $1 ORDER BY seq",
                &[&to_i64(chain)?],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get(0).map_err(db_error)?;
                AuditCheckpoint::decode(bytes.as_slice())
                    .map_err(|_| StoreError::Corrupt("checkpoint"))
            })
            .collect()
    }
}
