//! Reaching the database: the connection string, TLS, the pool and its time limits, and the
//! durability setting the vault insists on.

use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sql::db_error;
use crate::store::{StoreError, StoreResult};

/// How to reach the database. `Debug` shows where, never the password.
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq connection string or `postgres://` URL (several hosts and
    /// `target_session_attrs=read-write` for failover).
    pub url: String,
    /// PEM file of the CA that signed the database's certificate (needed for TLS).
    pub ca_file: Option<PathBuf>,
    /// Connections per node.
    pub pool_size: usize,
    /// How long a request waits for a connection (or a new connection takes) before it fails
    /// with `UNAVAILABLE`.
    pub timeout: Duration,
}

impl PgOptions {
    /// Options for `url` with the defaults: 16 connections, 5 s to get one.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            pool_size: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = self
            .url
            .parse::<tokio_postgres::Config>()
            .map(|c| describe(&c))
            .unwrap_or_else(|_| "(unparsable URL)".into());
        f.debug_struct("PgOptions")
            .field("target", &target)
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Whether `url` names a PostgreSQL store (rather than a data directory).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The pool for `options`, and where it points (no password).
pub(super) fn pool(options: &PgOptions) -> StoreResult<(Pool, String)> {
    let mut config: tokio_postgres::Config = options
        .url
        .parse()
        .map_err(|e| StoreError::Backend(format!("store URL: {e}")))?;
    config.application_name("valv");
    config.connect_timeout(options.timeout);
    let local = config.get_hosts().iter().all(is_local)
        && !config.get_hosts().is_empty()
        && config.get_hostaddrs().iter().all(IpAddr::is_loopback);
    if !local && config.get_ssl_mode() != SslMode::Require {
        return Err(StoreError::Backend(
            "store URL: a database that is not on loopback needs sslmode=require (and --store-ca)"
                .into(),
        ));
    }
    if local && config.get_ssl_mode() == SslMode::Prefer && options.ca_file.is_none() {
        // On loopback without a CA to check the server against, TLS would only fail on the
        // server's self-signed certificate; the connection stays on this machine.
        config.ssl_mode(SslMode::Disable);
    }
    let tls = MakeRustlsConnect::new(tls_config(options)?);
    let target = describe(&config);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        .recycle_timeout(Some(options.timeout))
        .build()
        .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
    Ok((pool, target))
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            Host::Tcp(name) => format!("{name}:{p}"),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "postgres://{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// Certificates are checked against `--store-ca` only (no system roots: a vault trusts the
/// database it was told to trust).
fn tls_config(options: &PgOptions) -> StoreResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| StoreError::Backend(format!("store CA {}: {e}", path.display())))?;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls::pki_types::CertificateDer<'static> =
                cert.map_err(|e| StoreError::Backend(format!("store CA {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Backend(format!("store CA {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Refuses a database whose commits are not durable when they return.
pub(super) async fn check_durability(client: &Object) -> StoreResult<()> {
    let row = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .map_err(db_error)?;
    let mode: String = row.try_get(0).map_err(db_error)?;
    if mode == "off" {
        return Err(StoreError::Backend(
            "the database has synchronous_commit=off: an acknowledged pseudonym could be lost in a \
             crash; set it to on (or remote_apply with a synchronous standby)"
                .into(),
        ));
    }
    Ok(())
}
