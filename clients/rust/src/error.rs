//! The client's one error type.

use thiserror::Error;
use tonic::Status;

/// What can go wrong talking to a vault.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The configuration is unusable (missing CA for TLS, unreadable file, non-ASCII token).
    #[error("configuration: {0}")]
    Config(String),
    /// The connection could not be made.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The server answered with an error status (the message names the field and the rule).
    #[error("{:?}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    /// The server's answer does not fit the request (e.g. a result missing).
    #[error("protocol: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The gRPC status code, if the server answered with one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Self::Status(s) => Some(s.code()),
            _ => None,
        }
    }
}
