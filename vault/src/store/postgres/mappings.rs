//! PostgreSQL: the mapping family. A batch is one or two statements over arrays (`unnest`), not
//! one per identifier; the primary keys of `mappings` and `blind_index` decide, across nodes,
//! which of two concurrent inserts of one identifier wins.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use tokio_postgres::{Row, error::SqlState};

use super::{
    PgStore,
    sql::{db_error, limit, to_i32, to_i64, to_u32},
};
use crate::store::{
    MappingStore, StoreError, StoreResult,
    records::{InsertOutcome, MappingRecord, NewMapping},
};

const COLUMNS: &str = "pseudonym, epoch, subject, created_ms, expires_ms, ciphertext";

/// Rows to insert, as the arrays the statements take (in key order, so that two batches
/// touching the same keys lock them in the same order and cannot deadlock).
struct Arrays {
    blind: Vec<Vec<u8>>,
    pseudonym: Vec<Vec<u8>>,
    epoch: Vec<i32>,
    subject: Vec<Vec<u8>>,
    created: Vec<i64>,
    expires: Vec<i64>,
    ciphertext: Vec<Option<Vec<u8>>>,
}

impl Arrays {
    /// The statement parameters: $1 domain, $2 tenant, $3..$8 the row columns, $9 the blind
    /// entries.
    fn params<'a>(
        &'a self,
        domain: &'a i64,
        tenant: &'a i64,
    ) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 9] {
        [
            domain,
            tenant,
            &self.pseudonym,
            &self.epoch,
            &self.subject,
            &self.created,
            &self.expires,
            &self.ciphertext,
            &self.blind,
        ]
    }

    fn of(rows: &[&NewMapping]) -> StoreResult<Self> {
        let mut a = Self {
            blind: Vec::with_capacity(rows.len()),
            pseudonym: Vec::with_capacity(rows.len()),
            epoch: Vec::with_capacity(rows.len()),
            subject: Vec::with_capacity(rows.len()),
            created: Vec::with_capacity(rows.len()),
            expires: Vec::with_capacity(rows.len()),
            ciphertext: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            if let Some(b) = row.blind {
                a.blind.push(b.to_vec());
            }
            a.pseudonym.push(row.pseudonym.clone());
            a.epoch.push(to_i32(row.record.epoch)?);
            a.subject.push(row.record.subject.to_vec());
            a.created.push(row.record.created_ms);
            a.expires.push(row.record.expires_ms);
            a.ciphertext.push(row.record.ciphertext.clone());
        }
        Ok(a)
    }
}

fn record(row: &Row, first: usize) -> StoreResult<MappingRecord> {
    let subject: Vec<u8> = row.try_get(first + 1).map_err(db_error)?;
    Ok(MappingRecord {
        epoch: to_u32(row.try_get(first).map_err(db_error)?)?,
        subject: subject
            .try_into()
            .map_err(|_| StoreError::Corrupt("mapping subject"))?,
        created_ms: row.try_get(first + 2).map_err(db_error)?,
        expires_ms: row.try_get(first + 3).map_err(db_error)?,
        ciphertext: row.try_get(first + 4).map_err(db_error)?,
    })
}

/// Whether a failed transaction lost a deadlock or serialisation race and may simply be run
/// again.
fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains(SqlState::T_R_DEADLOCK_DETECTED.code())
        || m.contains(SqlState::T_R_SERIALIZATION_FAILURE.code()))
}

const INSERT_KEYED: &str = "INSERT INTO mappings (domain_id, tenant_id, pseudonym, epoch, subject, \
     created_ms, expires_ms, ciphertext) \
     SELECT $1, $2, r.* FROM unnest($3::bytea[], $4::int4[], $5::bytea[], $6::int8[], $7::int8[], \
     $8::bytea[]) AS r (pseudonym, epoch, subject, created_ms, expires_ms, ciphertext) \
     ON CONFLICT DO NOTHING RETURNING pseudonym";

/// The blind entries first: a row whose entry already exists (another identifier's twin, or a
/// concurrent insert from another node that committed first) stores no mapping.
const INSERT_BLIND: &str = "WITH b AS (INSERT INTO blind_index (domain_id, blind, pseudonym) \
       SELECT $1, r.blind, r.pseudonym FROM unnest($9::bytea[], $3::bytea[]) AS r (blind, pseudonym) \
       WHERE NOT EXISTS (SELECT 1 FROM mappings m WHERE m.domain_id = $1 AND m.pseudonym = r.pseudonym) \
       ON CONFLICT DO NOTHING RETURNING pseudonym) \
     INSERT INTO mappings (domain_id, tenant_id, pseudonym, epoch, subject, created_ms, expires_ms, \
     ciphertext) \
     SELECT $1, $2, r.* FROM unnest($3::bytea[], $4::int4[], $5::bytea[], $6::int8[], $7::int8[], \
     $8::bytea[]) AS r (pseudonym, epoch, subject, created_ms, expires_ms, ciphertext) \
     WHERE r.pseudonym IN (SELECT pseudonym FROM b) ON CONFLICT DO NOTHING";

const READ_BLIND: &str =
    "SELECT blind, pseudonym FROM blind_index WHERE domain_id = $1 AND blind = ANY($2)";

/// What one insert call left: the keyed rows it stored, and each blind entry's pseudonym.
#[derive(Default)]
struct Stored {
    keyed: HashSet<Vec<u8>>,
    blind: HashMap<Vec<u8>, Vec<u8>>,
}

fn pseudonyms(rows: &[Row]) -> StoreResult<HashSet<Vec<u8>>> {
    rows.iter()
        .map(|r| r.try_get(0).map_err(db_error))
        .collect()
}

impl PgStore {
    /// Stores the absent rows of `keyed` (the pseudonym is the key) and `blind` (the blind
    /// index is the key), all in one commit: a single statement when there are no blind rows.
    async fn insert_rows(
        &self,
        tenant: i64,
        domain: i64,
        keyed: &Arrays,
        blind: &Arrays,
    ) -> StoreResult<Stored> {
        let mut client = self.client().await?;
        if blind.pseudonym.is_empty() {
            let stmt = client
                .prepare_cached(INSERT_KEYED)
                .await
                .map_err(db_error)?;
            let rows = client
                .query(&stmt, &keyed.params(&domain, &tenant)[..8])
                .await
                .map_err(db_error)?;
            return Ok(Stored {
                keyed: pseudonyms(&rows)?,
                ..Stored::default()
            });
        }
        let tx = client.transaction().await.map_err(db_error)?;
        let mut stored = Stored::default();
        if !keyed.pseudonym.is_empty() {
            let stmt = tx.prepare_cached(INSERT_KEYED).await.map_err(db_error)?;
            let rows = tx
                .query(&stmt, &keyed.params(&domain, &tenant)[..8])
                .await
                .map_err(db_error)?;
            stored.keyed = pseudonyms(&rows)?;
        }
        let stmt = tx.prepare_cached(INSERT_BLIND).await.map_err(db_error)?;
        tx.execute(&stmt, &blind.params(&domain, &tenant))
            .await
            .map_err(db_error)?;
        let read = tx.prepare_cached(READ_BLIND).await.map_err(db_error)?;
        let rows = tx
            .query(&read, &[&domain, &blind.blind])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        for r in &rows {
            stored.blind.insert(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
            );
        }
        Ok(stored)
    }
}

#[async_trait]
impl MappingStore for PgStore {
    async fn insert_mappings(
        &self,
        tenant_id: u64,
        domain_id: u64,
        rows: Vec<NewMapping>,
    ) -> StoreResult<Vec<InsertOutcome>> {
        let (tenant, domain) = (to_i64(tenant_id)?, to_i64(domain_id)?);
        // A row repeated in the batch takes the first row's outcome; the rest go to the
        // database once, in key order.
        let probe = |r: &NewMapping| match r.blind {
            Some(b) => (true, b.to_vec()),
            None => (false, r.pseudonym.clone()),
        };
        let mut first: HashMap<(bool, Vec<u8>), usize> = HashMap::with_capacity(rows.len());
        let (mut keyed, mut blind): (Vec<&NewMapping>, Vec<&NewMapping>) = (vec![], vec![]);
        for (i, row) in rows.iter().enumerate() {
            first.entry(probe(row)).or_insert_with(|| {
                if row.blind.is_some() {
                    blind.push(row);
                } else {
                    keyed.push(row);
                }
                i
            });
        }
        keyed.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
        blind.sort_by_key(|r| r.blind);
        let (keyed, blind) = (Arrays::of(&keyed)?, Arrays::of(&blind)?);
        self.known.learn_domain(tenant_id, domain_id);
        let era = self.known.era(domain_id);
        let mut attempt = 0;
        let stored = loop {
            match self.insert_rows(tenant, domain, &keyed, &blind).await {
                Err(e) if retryable(&e) && attempt < 3 => attempt += 1,
                other => break other?,
            }
        };
        // Keyed rows are stored now (inserted, or there before): known to this node.
        self.known.remember(
            domain_id,
            era,
            rows.iter()
                .filter(|r| r.blind.is_none())
                .map(|r| r.pseudonym.as_slice()),
        );
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                let mine = first.get(&probe(row)) == Some(&i);
                let holder = match row.blind {
                    None if mine && stored.keyed.contains(&row.pseudonym) => {
                        return Ok(InsertOutcome::Inserted);
                    }
                    None => row.pseudonym.clone(),
                    Some(b) => stored
                        .blind
                        .get(b.as_slice())
                        .cloned()
                        .ok_or(StoreError::Corrupt(
                            "a new blind-index row names a pseudonym another mapping holds (the serial counter is behind the mappings)",
                        ))?,
                };
                Ok(if mine && row.blind.is_some() && holder == row.pseudonym {
                    InsertOutcome::Inserted
                } else {
                    InsertOutcome::Existing(holder)
                })
            })
            .collect()
    }

    async fn contains_mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<bool>> {
        // Taken before the database is asked: what it answers is filed under this era.
        let era = self.known.era(domain_id);
        let known = self.known.lookup(domain_id, era, &pseudonyms);
        if known.iter().all(|k| *k) {
            return Ok(known);
        }
        let misses: Vec<&Vec<u8>> = pseudonyms
            .iter()
            .zip(&known)
            .filter(|(_, k)| !**k)
            .map(|(p, _)| p)
            .collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT pseudonym FROM mappings WHERE domain_id = $1 AND pseudonym = ANY($2)",
            )
            .await
            .map_err(db_error)?;
        let rows = client
            .query(&stmt, &[&to_i64(domain_id)?, &misses])
            .await
            .map_err(db_error)?;
        let found: HashSet<Vec<u8>> = rows
            .iter()
            .map(|r| r.try_get(0).map_err(db_error))
            .collect::<StoreResult<_>>()?;
        self.known
            .remember(domain_id, era, found.iter().map(Vec::as_slice));
        Ok(pseudonyms
            .iter()
            .zip(known)
            .map(|(p, k)| k || found.contains(p))
            .collect())
    }

    async fn mappings(
        &self,
        domain_id: u64,
        pseudonyms: Vec<Vec<u8>>,
    ) -> StoreResult<Vec<Option<MappingRecord>>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mappings WHERE domain_id = $1 AND pseudonym = ANY($2)"
            ))
            .await
            .map_err(db_error)?;
        let rows = client
            .query(&stmt, &[&to_i64(domain_id)?, &pseudonyms])
            .await
            .map_err(db_error)?;
        let mut found: HashMap<Vec<u8>, MappingRecord> = HashMap::with_capacity(rows.len());
        for r in &rows {
            found.insert(r.try_get(0).map_err(db_error)?, record(r, 1)?);
        }
        Ok(pseudonyms.iter().map(|p| found.get(p).cloned()).collect())
    }

    async fn scan_mappings(
        &self,
        domain_id: u64,
        after: Vec<u8>,
        limit_rows: usize,
    ) -> StoreResult<Vec<(Vec<u8>, MappingRecord)>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mappings WHERE domain_id = $1 AND pseudonym > $2 \
                 ORDER BY pseudonym LIMIT $3"
            ))
            .await
            .map_err(db_error)?;
        let rows = client
            .query(&stmt, &[&to_i64(domain_id)?, &after, &limit(limit_rows)])
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(db_error)?, record(r, 1)?)))
            .collect()
    }

    async fn replace_ciphertext(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        ciphertext: Vec<u8>,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE mappings SET ciphertext = $8 WHERE domain_id = $1 AND pseudonym = $2 \
                 AND epoch = $3 AND subject = $4 AND created_ms = $5 AND expires_ms = $6 \
                 AND ciphertext IS NOT DISTINCT FROM $7",
                &[
                    &to_i64(domain_id)?,
                    &pseudonym,
                    &to_i32(current.epoch)?,
                    &current.subject.as_slice(),
                    &current.created_ms,
                    &current.expires_ms,
                    &current.ciphertext,
                    &ciphertext,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn set_expiry(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        current: &MappingRecord,
        expires_ms: i64,
        ciphertext: Option<Vec<u8>>,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE mappings SET expires_ms = $8, ciphertext = $9 \
                 WHERE domain_id = $1 AND pseudonym = $2 \
                 AND epoch = $3 AND subject = $4 AND created_ms = $5 AND expires_ms = $6 \
                 AND ciphertext IS NOT DISTINCT FROM $7",
                &[
                    &to_i64(domain_id)?,
                    &pseudonym,
                    &to_i32(current.epoch)?,
                    &current.subject.as_slice(),
                    &current.created_ms,
                    &current.expires_ms,
                    &current.ciphertext,
                    &expires_ms,
                    &ciphertext,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn blind_entries(&self, domain_id: u64) -> StoreResult<Vec<([u8; 16], Vec<u8>)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT blind, pseudonym FROM blind_index WHERE domain_id = $1 ORDER BY blind",
                &[&to_i64(domain_id)?],
            )
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let blind: Vec<u8> = r.try_get(0).map_err(db_error)?;
                Ok((
                    blind
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("blind index entry"))?,
                    r.try_get(1).map_err(db_error)?,
                ))
            })
            .collect()
    }

    async fn blind_lookup(&self, domain_id: u64, blind: [u8; 16]) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT pseudonym FROM blind_index WHERE domain_id = $1 AND blind = $2")
            .await
            .map_err(db_error)?;
        let row = client
            .query_opt(&stmt, &[&to_i64(domain_id)?, &blind.as_slice()])
            .await
            .map_err(db_error)?;
        row.map(|r| r.try_get(0).map_err(db_error)).transpose()
    }

    async fn blind_lookups(
        &self,
        domain_id: u64,
        blinds: Vec<[u8; 16]>,
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT blind, pseudonym FROM blind_index WHERE domain_id = $1 AND blind = ANY($2)",
            )
            .await
            .map_err(db_error)?;
        let keys: Vec<&[u8]> = blinds.iter().map(<[u8; 16]>::as_slice).collect();
        let rows = client
            .query(&stmt, &[&to_i64(domain_id)?, &keys])
            .await
            .map_err(db_error)?;
        let mut found: HashMap<Vec<u8>, Vec<u8>> = HashMap::with_capacity(rows.len());
        for r in &rows {
            found.insert(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
            );
        }
        Ok(blinds
            .iter()
            .map(|b| found.get(b.as_slice()).cloned())
            .collect())
    }

    async fn delete_mapping(
        &self,
        domain_id: u64,
        pseudonym: &[u8],
        blind: Option<[u8; 16]>,
    ) -> StoreResult<()> {
        let domain = to_i64(domain_id)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if let Some(b) = blind {
            tx.execute(
                "DELETE FROM blind_index WHERE domain_id = $1 AND blind = $2",
                &[&domain, &b.as_slice()],
            )
            .await
            .map_err(db_error)?;
        }
        // Other nodes' known-mappings tables learn of it from the tenant's deletion counter,
        // raised in the same transaction (see `known`).
        tx.execute(
            "WITH gone AS (DELETE FROM mappings WHERE domain_id = $1 AND pseudonym = $2 \
             RETURNING tenant_id) \
             INSERT INTO tenant_generations (tenant_id, generation, deletions) \
             SELECT DISTINCT tenant_id, 0, 1 FROM gone \
             ON CONFLICT (tenant_id) DO UPDATE SET deletions = tenant_generations.deletions + 1",
            &[&domain, &pseudonym],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}
