//! Rust client for Valv.
//!
//! ```no_run
//! # async fn demo() -> Result<(), valv_client::ClientError> {
//! let valv = valv_client::Valv::connect(valv_client::ClientConfig::from_env()?).await?;
//! let mut pseudonyms = valv.pseudonyms();
//! let reply = pseudonyms
//!     .pseudonymise(valv_client::pb::PseudonymiseRequest {
//!         domain: "patients".into(),
//!         identifiers: vec!["19520903-5525".into()],
//!         batch_id: 0,
//!     })
//!     .await?;
//! # let _ = reply;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::{path::PathBuf, str::FromStr};

use thiserror::Error;
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
pub use valv_proto::v1 as pb;
use valv_proto::v1::{
    admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    consent_service_client::ConsentServiceClient, key_service_client::KeyServiceClient,
    pseudonym_service_client::PseudonymServiceClient,
    retention_service_client::RetentionServiceClient, seal_service_client::SealServiceClient,
    subject_service_client::SubjectServiceClient,
};

/// Client errors.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// Could not connect.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The server answered with an error status.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
}

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct ClientConfig {
    /// `https://host:port` (or `http://` for a loopback plaintext server).
    pub addr: String,
    /// CA certificate (PEM) to trust; the system roots are not used.
    pub ca_pem: Option<Vec<u8>>,
    /// Bearer token.
    pub token: Option<String>,
    /// Client certificate and key (PEM) for mTLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// TLS server name, if it differs from the address's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("identity", &self.identity.as_ref().map(|_| "REDACTED"))
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// From `VALV_ADDR` (default `https://127.0.0.1:7443`), `VALV_TOKEN` or `VALV_TOKEN_FILE`, and
    /// `VALV_CA` (path of a PEM CA file).
    pub fn from_env() -> Result<Self, ClientError> {
        let addr = std::env::var("VALV_ADDR").unwrap_or_else(|_| "https://127.0.0.1:7443".into());
        let token = match (
            std::env::var("VALV_TOKEN"),
            std::env::var("VALV_TOKEN_FILE"),
        ) {
            (Ok(t), _) => Some(t),
            (_, Ok(path)) => Some(read_token(&PathBuf::from(path))?),
            _ => None,
        };
        let ca_pem = match std::env::var("VALV_CA") {
            Ok(path) => Some(
                std::fs::read(&path)
                    .map_err(|e| ClientError::Config(format!("VALV_CA {path}: {e}")))?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            addr,
            ca_pem,
            token,
            identity: None,
            server_name: None,
        })
    }
}

/// Reads a token file (first line, trimmed).
pub fn read_token(path: &std::path::Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Config(format!("token file {}: {e}", path.display())))?;
    Ok(text.trim().to_owned())
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel that authenticates every call.
pub type AuthChannel = InterceptedService<Channel, Auth>;

/// A connected client.
#[derive(Clone)]
pub struct Valv {
    channel: Channel,
    auth: Auth,
}

impl Valv {
    /// Connects (TLS unless the address is `http://`).
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let mut endpoint = Endpoint::from_str(&config.addr)
            .map_err(|e| ClientError::Config(format!("address: {e}")))?;
        if config.addr.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            match &config.ca_pem {
                Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(ca)),
                None => {
                    return Err(ClientError::Config(
                        "TLS needs a CA: set VALV_CA or --ca".into(),
                    ));
                }
            }
            if let Some((cert, key)) = &config.identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = &config.server_name {
                tls = tls.domain_name(name.clone());
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint.connect().await?;
        let auth = match &config.token {
            Some(t) => Some(
                MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| ClientError::Config("token is not ASCII".into()))?,
            ),
            None => None,
        };
        Ok(Self {
            channel,
            auth: Auth(auth),
        })
    }

    /// The same connection with another bearer token.
    pub fn with_token(&self, token: &str) -> Result<Self, ClientError> {
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| ClientError::Config("token is not ASCII".into()))?;
        Ok(Self {
            channel: self.channel.clone(),
            auth: Auth(Some(value)),
        })
    }

    /// `AdminService`.
    pub fn admin(&self) -> AdminServiceClient<AuthChannel> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `PseudonymService`.
    pub fn pseudonyms(&self) -> PseudonymServiceClient<AuthChannel> {
        PseudonymServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// `ConsentService`.
    pub fn consents(&self) -> ConsentServiceClient<AuthChannel> {
        ConsentServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `AuditService`.
    pub fn audit(&self) -> AuditServiceClient<AuthChannel> {
        AuditServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// `KeyService`.
    pub fn keys(&self) -> KeyServiceClient<AuthChannel> {
        KeyServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// `RetentionService`.
    pub fn retention(&self) -> RetentionServiceClient<AuthChannel> {
        RetentionServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// `SubjectService`.
    pub fn subjects(&self) -> SubjectServiceClient<AuthChannel> {
        SubjectServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// `SealService` (status and unseal need no token).
    pub fn seal(&self) -> SealServiceClient<AuthChannel> {
        SealServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The raw channel (e.g. for health checks).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
}
