//! Server configuration: what `valv serve` was asked to do, validated before anything starts.

use std::{fmt, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use crate::store::Store;

/// Default use budget of one key version: 2^32 encryptions, NIST SP 800-38D's limit for
/// random 96-bit GCM nonces under one key. Valv's per-record keys (HKDF from a 192-bit salt)
/// push the real collision bound far beyond it, so this is a cryptoperiod, not a cliff.
pub const DEFAULT_KEY_USE_BUDGET: u64 = 1 << 32;

/// Default largest request: 4 MiB, room for a full default batch (10,000 identifiers of up to
/// 256 bytes are 2.6 MB encoded) and no more.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most identifiers or pseudonyms in one batch.
    pub max_batch: usize,
    /// Longest identifier in bytes.
    pub max_identifier_bytes: usize,
    /// Largest encoded request message in bytes (refused before it is buffered).
    pub max_message_bytes: usize,
    /// Most calls in flight in this process (a stream counts until it ends); past it calls are
    /// answered RESOURCE_EXHAUSTED at once.
    pub max_calls: usize,
    /// Most concurrent streams (calls) one HTTP/2 connection may open.
    pub max_streams_per_connection: u32,
    /// Failed authentications per source address and minute before the address is turned
    /// away for the rest of the minute (0: never).
    pub auth_failures_per_minute: u32,
    /// New identifiers one principal may pseudonymise per hour, unless its tenant sets its own
    /// (0: no limit).
    pub new_identifiers_per_hour: u64,
    /// Crossing this many new identifiers in an hour is reported, unless the tenant sets its
    /// own (0: never).
    pub new_identifiers_warning_per_hour: u64,
    /// Calls one principal may make per second on each node, unless its tenant sets its own
    /// (0: no limit).
    pub requests_per_second: u64,
    /// Encryptions allowed under one key version before the vault rotates on its own.
    pub key_use_budget: u64,
    /// Most records per second a key-rotation job re-encrypts (0 = as fast as it can).
    pub rotation_records_per_second: u64,
    /// Destructive operations, and those that widen who can re-identify, need a second,
    /// independent principal's approval.
    pub two_person_rule: bool,
    /// How long an operation waits for approval, in seconds.
    pub approval_window_seconds: u64,
    /// How long an enrolment code can be claimed, in seconds.
    pub enrolment_seconds: u64,
    /// Default grace period of old pseudonyms after an epoch rotation, in seconds.
    pub epoch_grace_seconds: u64,
    /// How often the retention reaper runs, in seconds (0: never on its own).
    pub retention_interval_seconds: u64,
    /// How long a job's lease holds without renewal; a job whose node died is taken over by
    /// another node within this time (and half of it again).
    pub job_lease_seconds: u64,
}

impl Limits {
    /// The encoded size of a full batch of the longest identifiers (each string costs its
    /// bytes, a tag and a two-byte length), plus a kilobyte for the other fields.
    pub fn full_batch_bytes(&self) -> usize {
        self.max_batch
            .saturating_mul(self.max_identifier_bytes.saturating_add(3))
            .saturating_add(1024)
    }

    /// [`Limits::job_lease_seconds`] in milliseconds (at least one second).
    pub fn job_lease_ms(&self) -> i64 {
        i64::try_from(self.job_lease_seconds.max(1).saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 10_000,
            max_identifier_bytes: 256,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_calls: 1024,
            max_streams_per_connection: 128,
            auth_failures_per_minute: 30,
            new_identifiers_per_hour: 5_000_000,
            new_identifiers_warning_per_hour: 1_000_000,
            requests_per_second: 0,
            key_use_budget: DEFAULT_KEY_USE_BUDGET,
            rotation_records_per_second: 0,
            two_person_rule: false,
            approval_window_seconds: 3600,
            enrolment_seconds: 24 * 3600,
            epoch_grace_seconds: 30 * 24 * 3600,
            retention_interval_seconds: 3600,
            job_lease_seconds: 60,
        }
    }
}

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
    /// Keep the store in PostgreSQL instead of `<data-dir>/store` (ignored when `store` is set).
    pub postgres: Option<crate::store::postgres::PgOptions>,
    /// How the embedded store is opened (when neither `store` nor `postgres` is set).
    pub sled: crate::store::sled::SledOptions,
    /// This node's name as a job-lease holder (default: host name and a digest of the data
    /// directory's path).
    pub node_id: Option<String>,
    /// Where to send OpenTelemetry traces (OTLP/gRPC); off when `None`.
    pub traces: Option<crate::observe::traces::TraceSettings>,
}

impl ServeConfig {
    /// Files the configuration names that must exist before the vault starts (certificates,
    /// CAs, the HSM's module); the root key file and development material are made at first
    /// start.
    pub fn named_files(&self) -> Vec<&std::path::Path> {
        let mut files = Vec::new();
        if let TlsMode::Files { cert, key } = &self.tls {
            files.extend([cert.as_path(), key.as_path()]);
        }
        files.extend(self.client_ca.as_deref());
        if let Some(pg) = &self.postgres {
            files.extend(pg.ca_file.as_deref());
        }
        if let RootConfig::Pkcs11(hsm) = &self.root {
            files.push(hsm.module.as_path());
        }
        if let Some(traces) = &self.traces {
            files.extend(traces.ca.as_deref());
        }
        files
    }

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
        if self.limits.max_batch == 0
            || self.limits.max_identifier_bytes == 0
            || self.limits.max_calls == 0
            || self.limits.max_streams_per_connection == 0
        {
            return Err("limits must be positive".into());
        }
        if self.limits.max_message_bytes < self.limits.full_batch_bytes() {
            return Err(format!(
                "--max-message-bytes {} cannot carry a full batch: {} identifiers of {} bytes need {} (lower --max-batch or --max-identifier-bytes, or raise the message limit)",
                self.limits.max_message_bytes,
                self.limits.max_batch,
                self.limits.max_identifier_bytes,
                self.limits.full_batch_bytes()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, tls: TlsMode) -> ServeConfig {
        ServeConfig {
            listen: listen.parse().unwrap(),
            data_dir: "d".into(),
            tls,
            client_ca: None,
            root: RootConfig::File(None),
            limits: Limits::default(),
            audit: AuditSettings::default(),
            metrics_listen: None,
            store: None,
            postgres: None,
            sled: crate::store::sled::SledOptions::default(),
            node_id: None,
            traces: None,
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
