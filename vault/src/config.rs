//! Server configuration: what `valv serve` was asked to do, validated before anything starts.

use std::{fmt, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use crate::{app::Limits, store::Store};

/// When the audit checkpointer signs chain heads.
#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// After this many new entries in a chain.
    pub checkpoint_entries: u64,
    /// And at least this often while a chain grows.
    pub checkpoint_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_entries: 1000,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

/// A store to use instead of the data directory's sled store (embedding, fault-injection
/// tests). Keys, TLS material and the operator token still live in the data directory.
#[derive(Clone)]
pub struct StoreOverride(pub Arc<dyn Store>);

impl fmt::Debug for StoreOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreOverride")
    }
}

/// Where the root key lives.
#[derive(Debug, Clone)]
pub enum RootConfig {
    /// In the data directory: a sealed start when `<data-dir>/root.sealed` exists (made by
    /// `valv operator init`), else the development `file` provider with this key file
    /// (default `<data-dir>/root.key`, created on first start).
    File(Option<PathBuf>),
    /// A non-extractable key inside a PKCS#11 token (HSM).
    Pkcs11(valv_kms::Pkcs11Config),
}

impl RootConfig {
    /// True for the development set-up: a plain root key file in the data directory.
    pub fn is_development(&self, data_dir: &std::path::Path) -> bool {
        matches!(self, Self::File(_))
            && !data_dir
                .join(valv_kms::providers::sealed::SEAL_FILE)
                .exists()
    }
}

/// How the server speaks TLS.
#[derive(Debug, Clone)]
pub enum TlsMode {
    /// Certificate and key from files (PEM); optional CA for client certificates (mTLS).
    Files {
        /// Server certificate chain.
        cert: PathBuf,
        /// Server private key.
        key: PathBuf,
    },
    /// A development CA and server certificate created in the data directory.
    Development,
    /// No TLS. Only on loopback addresses, only when asked for explicitly.
    InsecurePlaintext,
}

/// Everything `valv serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Data directory (store, development root key, development TLS material, operator token).
    pub data_dir: PathBuf,
    /// TLS set-up.
    pub tls: TlsMode,
    /// CA whose client certificates may authenticate (mTLS, optional per client).
    pub client_ca: Option<PathBuf>,
    /// Where the root key lives.
    pub root: RootConfig,
    /// Request limits.
    pub limits: Limits,
    /// Audit checkpoint schedule.
    pub audit: AuditSettings,
    /// Where to serve Prometheus metrics (plain HTTP, `GET /metrics`); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// Use this store instead of opening `<data-dir>/store`.
    pub store: Option<StoreOverride>,
}

impl ServeConfig {
    /// Checks what can be checked before starting.
    pub fn validate(&self) -> Result<(), String> {
        if matches!(self.tls, TlsMode::InsecurePlaintext) && !self.listen.ip().is_loopback() {
            return Err(format!(
                "--insecure-plaintext is allowed only on a loopback address, not {}",
                self.listen.ip()
            ));
        }
        if matches!(self.tls, TlsMode::InsecurePlaintext) && self.client_ca.is_some() {
            return Err("--client-ca needs TLS".into());
        }
        if self.limits.max_batch == 0 || self.limits.max_identifier_bytes == 0 {
            return Err("limits must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, tls: TlsMode) -> ServeConfig {
        ServeConfig {
            listen: listen.parse().unwrap_or_else(|e| panic!("{e}")),
            data_dir: "d".into(),
            tls,
            client_ca: None,
            root: RootConfig::File(None),
            limits: Limits::default(),
            audit: AuditSettings::default(),
            metrics_listen: None,
            store: None,
        }
    }

    #[test]
    fn plaintext_only_on_loopback() {
        assert!(
            config("127.0.0.1:1", TlsMode::InsecurePlaintext)
                .validate()
                .is_ok()
        );
        assert!(
            config("[::1]:1", TlsMode::InsecurePlaintext)
                .validate()
                .is_ok()
        );
        assert!(
            config("0.0.0.0:1", TlsMode::InsecurePlaintext)
                .validate()
                .is_err()
        );
        assert!(
            config("10.1.2.3:1", TlsMode::InsecurePlaintext)
                .validate()
                .is_err()
        );
        assert!(config("0.0.0.0:1", TlsMode::Development).validate().is_ok());
    }
}
