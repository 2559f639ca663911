//! Where and how to connect: address, TLS trust, credentials, retry policy and batch sizes,
//! from a builder or from the environment (`VALV_ADDR`, `VALV_TOKEN` / `VALV_TOKEN_FILE`,
//! `VALV_CA`, `VALV_CLIENT_CERT` + `VALV_CLIENT_KEY`).

use std::{path::Path, time::Duration};

use crate::ClientError;

/// The address used when none is given: the vault's default listen address, over TLS.
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:7443";

/// How a call that failed with `UNAVAILABLE` (server restarting, connection lost, a key
/// rotation still running) is tried again: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before attempt `attempt` (2, 3, …), with `jitter` in `[0, 1)` taking off up to
    /// half of it so that many clients do not retry in step.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(2).min(30);
        let full = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// Where and how to connect. Build one with [`ClientConfig::new`] and the `with_*` methods, or
/// read it from the environment with [`ClientConfig::from_env`].
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://host:port`, or `http://` for a plaintext server on loopback.
    pub addr: String,
    /// CA certificate (PEM) to trust; the system roots are not used.
    pub ca_pem: Option<Vec<u8>>,
    /// Bearer token.
    pub token: Option<String>,
    /// Client certificate and key (PEM) for mTLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// TLS server name, if it differs from the address's host.
    pub server_name: Option<String>,
    /// The local address to connect from (on a host with several), if not the system's choice.
    pub local_address: Option<std::net::IpAddr>,
    /// Retries on `UNAVAILABLE`, for connecting and for the calls made through [`crate::Valv`]'s
    /// own methods.
    pub retry: RetryPolicy,
    /// Most items per request when splitting large inputs; `None` asks the server
    /// (`GetLimits`).
    pub max_batch: Option<usize>,
    /// Requests of one large call in flight at once.
    pub concurrency: usize,
    /// How long a call may wait for its answer before it fails with `CANCELLED`
    /// ("Timeout expired"); `None` waits as long as the server takes.
    pub timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new(DEFAULT_ADDR)
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("identity", &self.identity.as_ref().map(|_| "REDACTED"))
            .field("retry", &self.retry)
            .field("max_batch", &self.max_batch)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Config(format!("{what} {}: {e}", path.display())))
}

impl ClientConfig {
    /// A configuration for `addr` with no credentials, default retries and batch sizes from
    /// the server.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            ca_pem: None,
            token: None,
            identity: None,
            server_name: None,
            local_address: None,
            retry: RetryPolicy::default(),
            max_batch: None,
            concurrency: 4,
            timeout: None,
        }
    }

    /// Trust this CA certificate (PEM).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Trust the CA certificate in this PEM file (e.g. `<data-dir>/tls/ca.pem`).
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let pem = read_file("CA file", path.as_ref())?;
        Ok(self.with_ca_pem(pem))
    }

    /// Authenticate with this bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticate with the token in this file (first line).
    pub fn with_token_file(self, path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let token = read_token(path.as_ref())?;
        Ok(self.with_token(token))
    }

    /// Present this client certificate and key (PEM) for mTLS.
    pub fn with_identity(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        self.identity = Some((cert_pem, key_pem));
        self
    }

    /// Expect this name in the server's certificate.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Connect from this local address.
    pub fn with_local_address(mut self, addr: std::net::IpAddr) -> Self {
        self.local_address = Some(addr);
        self
    }

    /// Retry `UNAVAILABLE` this way.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Split large inputs into requests of at most `n` items (default: the server's limit).
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = Some(n.max(1));
        self
    }

    /// Keep up to `n` requests of one large call in flight (default 4).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Give up on a call not answered within `d` (for a stream: whose first answer has not
    /// come): the call fails with `CANCELLED` instead of waiting on a server that hangs.
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// From the environment: `VALV_ADDR` (default [`DEFAULT_ADDR`]), `VALV_TOKEN` or
    /// `VALV_TOKEN_FILE`, `VALV_CA` (path of a PEM file), and `VALV_CLIENT_CERT` with
    /// `VALV_CLIENT_KEY` (PEM files) for mTLS.
    pub fn from_env() -> Result<Self, ClientError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut config = Self::new(var("VALV_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into()));
        if let Some(t) = var("VALV_TOKEN") {
            config = config.with_token(t);
        } else if let Some(path) = var("VALV_TOKEN_FILE") {
            config = config.with_token_file(path)?;
        }
        if let Some(path) = var("VALV_CA") {
            config = config.with_ca_file(path)?;
        }
        match (var("VALV_CLIENT_CERT"), var("VALV_CLIENT_KEY")) {
            (Some(cert), Some(key)) => {
                let cert = read_file("VALV_CLIENT_CERT", Path::new(&cert))?;
                let key = read_file("VALV_CLIENT_KEY", Path::new(&key))?;
                config = config.with_identity(cert, key);
            }
            (None, None) => {}
            _ => {
                return Err(ClientError::Config(
                    "VALV_CLIENT_CERT and VALV_CLIENT_KEY go together".into(),
                ));
            }
        }
        Ok(config)
    }
}

/// Reads a token file (first line, trimmed).
pub fn read_token(path: &Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Config(format!("token file {}: {e}", path.display())))?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_takes_at_most_half() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
        };
        let waits: Vec<u128> = (2..7).map(|a| p.backoff(a, 0.0).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
        assert_eq!(p.backoff(3, 0.999_999).as_millis(), 100);
        assert_eq!(p.backoff(3, 0.5).as_millis(), 150);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = ClientConfig::new("http://127.0.0.1:1").with_token("v1.secret-token");
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
