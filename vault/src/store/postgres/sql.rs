//! What every statement of the back-end shares: driver errors as store errors (without the
//! values PostgreSQL quotes), JSON columns, and the conversions between our unsigned numbers and
//! PostgreSQL's signed ones.

use serde::{Serialize, de::DeserializeOwned};
use tokio_postgres::{Row, error::SqlState};

use crate::store::{StoreError, StoreResult};

/// A driver error as a store error: the SQL state and message only (PostgreSQL's DETAIL line
/// can quote key values, which are pseudonyms and handles; they stay out of errors and logs).
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => StoreError::Backend(format!(
            "unique key taken: {}",
            db.constraint().unwrap_or("?")
        )),
        Some(db) => StoreError::Backend(format!("{} ({})", db.message(), db.code().code())),
        None if e.is_closed() => StoreError::Unavailable("database connection closed".into()),
        None => StoreError::Unavailable(format!("database: {e}")),
    }
}

/// Whether `e` is a unique-key violation.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.code() == &SqlState::UNIQUE_VIOLATION)
}

/// A record as the JSON text a `jsonb` column is given (`$n::text::jsonb`).
pub(super) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|_| StoreError::Corrupt("record"))
}

/// A record from column `col` (selected as `record::text`).
pub(super) fn from_json<T: DeserializeOwned>(row: &Row, col: usize) -> StoreResult<T> {
    let text: String = row.try_get(col).map_err(db_error)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("record"))
}

/// Ids and counts are `bigint` in the database; ours are `u64` below 2^63.
pub(super) fn to_i64(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Backend("number out of range for bigint".into()))
}

pub(super) fn to_u64(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt("negative number"))
}

pub(super) fn to_i32(n: u32) -> StoreResult<i32> {
    i32::try_from(n).map_err(|_| StoreError::Backend("number out of range for integer".into()))
}

pub(super) fn to_u32(n: i32) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt("negative number"))
}

pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Raises a tenant's change counter inside the caller's transaction.
pub(super) const BUMP: &str = "INSERT INTO tenant_generations (tenant_id, generation) VALUES ($1, 1) \
     ON CONFLICT (tenant_id) DO UPDATE SET generation = tenant_generations.generation + 1";
