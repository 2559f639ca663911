//! Several real `valv` processes on one PostgreSQL database: the database `VALV_TEST_POSTGRES_URL`
//! names, in a schema made for the test and dropped after it.
//!
//! Each node has a data directory of its own (its TLS material, its log) and the same root key:
//! the first node makes it (and the first operator), the others get a copy of it before they
//! start — as an operator copies the key file, or points every node at one HSM.

use std::path::PathBuf;

use tempfile::TempDir;
pub use valv::store::postgres::testing::TestSchema;

use crate::{ChildServer, spawn_with};

/// Nodes on one database.
pub struct Cluster {
    /// The test's schema (dropped with the cluster).
    pub schema: TestSchema,
    /// Data directories and logs.
    pub dir: TempDir,
    /// The first operator's token (written by node 0 on first start).
    pub operator_token: String,
    nodes: Vec<Option<ChildServer>>,
    /// The connection string the nodes get.
    store_url: String,
    bin: String,
    extra: Vec<String>,
}

impl Drop for Cluster {
    /// A failed test keeps the nodes' logs: their ERROR lines go to stderr.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..self.nodes.len() {
                let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                for line in log.lines().filter(|l| l.contains(" ERROR ")) {
                    eprintln!("node {i}: {line}");
                }
            }
        }
    }
}

impl Cluster {
    /// Starts `n` nodes of `bin` (`env!("CARGO_BIN_EXE_valv-under-test")`) with `extra`
    /// `valv serve` arguments; `None` (and a notice) when no test database is configured.
    pub async fn start(test: &str, bin: &str, n: usize, extra: &[&str]) -> Option<Self> {
        Self::start_through(test, bin, n, extra, None).await
    }

    /// Like [`Cluster::start`], the nodes reaching the database through `via` (a proxy's
    /// address) instead of the address in `VALV_TEST_POSTGRES_URL`.
    pub async fn start_through(
        test: &str,
        bin: &str,
        n: usize,
        extra: &[&str],
        via: Option<std::net::SocketAddr>,
    ) -> Option<Self> {
        Self::start_prepared(test, bin, n, extra, via, |_| {}).await
    }

    /// Like [`Cluster::start_through`], with `prepare` run on node 0's data directory first
    /// (e.g. `valv operator init` for a sealed start; the other nodes get a copy of its seal
    /// file).
    pub async fn start_prepared(
        test: &str,
        bin: &str,
        n: usize,
        extra: &[&str],
        via: Option<std::net::SocketAddr>,
        prepare: impl FnOnce(&std::path::Path),
    ) -> Option<Self> {
        let schema = TestSchema::create(test).await?;
        let store_url = match via {
            Some(addr) => through(&schema.url(), addr),
            None => schema.url(),
        };
        let mut cluster = Self {
            store_url,
            schema,
            dir: tempfile::tempdir().unwrap(),
            operator_token: String::new(),
            nodes: Vec::new(),
            bin: bin.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        prepare(&cluster.data_dir(0));
        for i in 0..n {
            if i > 0 {
                cluster.share_root_key(i);
            }
            let node = cluster.spawn(i);
            if i == 0 {
                cluster.operator_token = node.operator_token.clone();
            }
            cluster.nodes.push(Some(node));
        }
        Some(cluster)
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    /// Node `i`'s log file.
    pub fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}.log"))
    }

    /// Node `i` (panics if it was killed and not restarted).
    pub fn node(&self, i: usize) -> &ChildServer {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} is not running"))
    }

    /// `kill -9` of node `i`.
    pub fn kill_9(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.kill_9();
        }
    }

    /// Starts node `i` again on its data directory.
    pub fn restart(&mut self, i: usize) {
        let node = self.spawn(i);
        self.nodes[i] = Some(node);
    }

    /// A direct connection to the test schema, to look at what the nodes stored.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.schema.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }

    /// Counts the rows `sql` (a `SELECT count(*) …`) finds.
    pub async fn count(&self, sql: &str) -> i64 {
        self.db().await.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// The database server's address in `VALV_TEST_POSTGRES_URL` (host and port).
    pub fn database_addr() -> Option<std::net::SocketAddr> {
        let url = std::env::var(valv::store::postgres::testing::URL_VAR).ok()?;
        let config: tokio_postgres::Config = url.parse().ok()?;
        let host = match config.get_hosts().first()? {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(_) => return None,
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = if host == "localhost" {
            "127.0.0.1".to_owned()
        } else {
            host
        };
        format!("{host}:{port}").parse().ok()
    }

    fn spawn(&self, i: usize) -> ChildServer {
        let url = self.store_url.clone();
        let node_id = format!("node-{i}");
        let mut args: Vec<&str> = vec!["--store", &url, "--node-id", &node_id];
        args.extend(self.extra.iter().map(String::as_str));
        spawn_with(&self.bin, &self.data_dir(i), &self.log(i), &args)
    }

    /// Gives node `i` node 0's root key.
    fn share_root_key(&self, i: usize) {
        copy_root_key(&self.data_dir(0), &self.data_dir(i));
    }
}

/// Gives data directory `to` the root key of `from` (the development key file, the seal file,
/// or the label of the HSM key), as an operator does for another node or a migrated store.
pub fn copy_root_key(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["root.key", "root.sealed", "test-pkcs11-key-label"] {
        if from.join(file).exists() {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    }
}

/// `url` (a `postgres://user@host:port/db?…` URL) pointed at `addr` instead.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(u, _)| format!("{u}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{addr}/{path}")
}
