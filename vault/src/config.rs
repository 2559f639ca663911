//! Server configuration: what `valv serve` was asked to do, validated before anything starts.

use std::{net::SocketAddr, path::PathBuf};

use crate::app::Limits;

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
    /// Root key file of the `file` provider (default `<data-dir>/root.key`).
    pub root_key_file: Option<PathBuf>,
    /// Request limits.
    pub limits: Limits,
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
            root_key_file: None,
            limits: Limits::default(),
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
