//! The shared back-end: PostgreSQL, for several vault nodes on one database.
//!
//! Every family is a set of tables with real keys (see `migrations/`); every decision that
//! several nodes must agree on is one statement or one transaction in the database, never state
//! in a node's memory: unique keys decide a mapping's and a blind index's owner, a row lock on
//! the chain's head row orders audit appends, `UPDATE … RETURNING` hands out key-use
//! reservations and sequence numbers, and a job's lease is a row guarded by `SELECT … FOR
//! UPDATE`. Nothing is cached here: a node reads what another node wrote on its next call.
//!
//! A write is acknowledged after its commit, and a commit is durable (the vault refuses to start
//! when `synchronous_commit` is off). Connections come from a pool (deadpool-postgres over
//! tokio-postgres: a plain async driver, no query macros, so it builds quickly here and each
//! statement is prepared once per connection). TLS to the database is required unless every
//! host is on loopback or a Unix socket.

mod audit;
mod audit_index;
mod connect;
mod consents;
mod jobs;
mod keys;
mod known;
mod mappings;
mod registry;
mod schema;
mod sql;
mod subjects;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, PoolError};

use self::sql::{db_error, to_u64};
pub use self::{
    connect::{PgOptions, is_postgres_url},
    schema::SCHEMA_VERSION,
};
use super::{Durability, StoreError, StoreResult};

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    /// Mappings known to be stored, invalidated by the tenant's deletion counters.
    known: known::Known,
    /// Where it connects, with any password removed (for logs).
    target: String,
}

impl PgStore {
    /// Connects to the database that `options` names, applies the embedded migrations (under an
    /// advisory lock, so nodes starting together do it once) and refuses a schema newer than
    /// this build.
    pub async fn connect(options: &PgOptions) -> StoreResult<Self> {
        let (pool, target) = connect::pool(options)?;
        let store = Self {
            pool,
            known: known::Known::new(),
            target,
        };
        let mut client = store.client().await?;
        connect::check_durability(&client).await?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    /// Where this store connects (host, port, database; no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A pooled connection; `Unavailable` when the database cannot be reached in time.
    async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(pool_error)
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(format!("database connection: {other}")),
    }
}

#[async_trait]
impl Durability for PgStore {
    /// A commit is durable when it returns (`synchronous_commit` on), and every write here
    /// commits before it answers, so there is nothing left to flush.
    async fn sync(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Lazy audit appends commit asynchronously; a synchronous commit flushes the write-ahead
    /// log up to its own position, which covers every earlier commit.
    async fn sync_all(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .batch_execute("BEGIN; SELECT txid_current(); COMMIT")
            .await
            .map_err(db_error)
    }

    async fn size_on_disk(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'S')",
                &[],
            )
            .await
            .map_err(db_error)?;
        to_u64(row.try_get(0).map_err(db_error)?)
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db_error)?;
        Ok(())
    }
}

/// Test databases (used by this crate's tests and the end-to-end suite).
#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod tests;
