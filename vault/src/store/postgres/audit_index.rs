//! PostgreSQL: the audit subject index (`audit_subjects`): the rows an append adds in its
//! transaction, and the indexing of the entries stored before the index existed (migration 3).
//! Apart from the store type, so the migration can use it.

use crate::store::{
    StoreResult,
    audit::{decode_entry, subjects_named},
};
use valv_proto::v1::AuditEntry;

use super::sql::{db_error, to_i64};

/// Adds the subject-index rows of `entries` in `tx`.
pub(super) async fn index(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    let (mut chains, mut subjects, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
    for e in entries {
        for s in subjects_named(e) {
            chains.push(to_i64(e.chain)?);
            subjects.push(s.to_owned());
            seqs.push(to_i64(e.seq)?);
        }
    }
    if chains.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO audit_subjects (chain, subject, seq) \
             SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[]) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(db_error)?;
    tx.execute(&stmt, &[&chains, &subjects, &seqs])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Indexes every entry stored before the subject index existed (migration 3, in its
/// transaction), a page at a time.
pub(super) async fn index_older_entries(
    tx: &deadpool_postgres::Transaction<'_>,
) -> StoreResult<()> {
    let (mut chain, mut seq) = (i64::MIN, 0i64);
    loop {
        let rows = tx
            .query(
                "SELECT chain, seq, entry FROM audit_entries WHERE (chain, seq) > ($1, $2) \
                 ORDER BY chain, seq LIMIT 10000",
                &[&chain, &seq],
            )
            .await
            .map_err(db_error)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        chain = last.try_get(0).map_err(db_error)?;
        seq = last.try_get(1).map_err(db_error)?;
        let entries = rows
            .iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get(2).map_err(db_error)?;
                decode_entry(&bytes)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        index(tx, &entries).await?;
    }
}
