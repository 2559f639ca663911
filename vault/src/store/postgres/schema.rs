//! The embedded migrations, applied at start under an advisory lock (nodes that start together
//! apply each once), and the version check that keeps an older build off a newer schema.

use deadpool_postgres::Object;

use super::sql::db_error;
use crate::store::{StoreError, StoreResult};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = 6;

/// Migration `n` takes the schema from version `n - 1` to `n`.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_budgets.sql")),
    (3, include_str!("migrations/0003_audit_subjects.sql")),
    (4, include_str!("migrations/0004_consent_seals.sql")),
    (5, include_str!("migrations/0005_mapping_deletions.sql")),
    (6, include_str!("migrations/0006_sharing_agreements.sql")),
];

/// Advisory-lock class of schema changes ("valv"); the second key is the schema's name, so
/// separate schemas in one database migrate independently.
const LOCK_CLASS: i32 = 0x7661_6c76;

/// Brings the current schema to [`SCHEMA_VERSION`], or refuses a newer one.
pub(super) async fn migrate(client: &mut Object) -> StoreResult<()> {
    client
        .execute(
            "SELECT pg_advisory_lock($1, hashtext(current_schema()))",
            &[&LOCK_CLASS],
        )
        .await
        .map_err(db_error)?;
    let outcome = apply(client).await;
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
            &[&LOCK_CLASS],
        )
        .await
        .map_err(db_error);
    outcome?;
    unlocked.map(|_| ())
}

async fn apply(client: &mut Object) -> StoreResult<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS valv_schema (\
                 singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), \
                 version integer NOT NULL)",
        )
        .await
        .map_err(db_error)?;
    let current: i32 = client
        .query_opt("SELECT version FROM valv_schema", &[])
        .await
        .map_err(db_error)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(db_error)?
        .unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the database schema is version {current}, newer than this valv understands \
             ({SCHEMA_VERSION}); run a valv at least as new as the one that upgraded it"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(sql).await.map_err(db_error)?;
        if *version == 3 {
            super::audit_index::index_older_entries(&tx).await?;
        }
        tx.execute(
            "INSERT INTO valv_schema (version) VALUES ($1) \
             ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            &[version],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}
