//! The one error type of the vault. Every variant maps to one gRPC status in `api/status.rs`.
//! No message ever contains an identifier: validation errors name the field and the rule.

use thiserror::Error;

use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum VaultError {
    /// Bad input: the field and the rule it broke.
    #[error("{field}: {rule}")]
    InvalidArgument {
        /// Request field, e.g. `domain` or `identifiers`.
        field: String,
        /// The rule broken.
        rule: String,
    },
    /// No valid credential.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid caller without the role or tenant.
    #[error("{0}")]
    PermissionDenied(String),
    /// No such object (in the caller's tenant).
    #[error("{0}")]
    NotFound(String),
    /// A unique name is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The state forbids the act.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Over a limit.
    #[error("{0}")]
    ResourceExhausted(String),
    /// RESOURCE_EXHAUSTED with a retry hint: a quota is used up until its window ends.
    #[error("{message}")]
    Quota {
        /// Field and rule, as for INVALID_ARGUMENT.
        message: String,
        /// Seconds until the quota's window ends.
        retry_after_seconds: u64,
    },
    /// The act could not be recorded or made durable; nothing was released.
    #[error("{0}")]
    Unavailable(String),
    /// Another process won a race for the same thing (a job's lease, a pending approval).
    #[error("{0}")]
    Aborted(String),
    /// A stored row failed its integrity check (changed outside the vault); it was not used.
    #[error("{0}")]
    Tampered(String),
    /// A bug or back-end failure; the detail is logged, the caller sees a generic message.
    #[error("internal: {0}")]
    Internal(String),
}

impl VaultError {
    /// Shorthand for [`VaultError::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// What a unique key the store refused means to the caller: the field and the rule.
fn exists(what: &str) -> String {
    match what {
        "tenant" => "name: a tenant of that name exists".into(),
        "domain" => "name: a domain of that name exists".into(),
        "client certificate binding" => "client certificate: bound to another principal".into(),
        "consent text version" => {
            "text: another version was added at the same moment; try again".into()
        }
        other => format!("{other}: exists already"),
    }
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => Self::AlreadyExists(exists(what)),
            StoreError::Durability(d) => {
                Self::Unavailable(format!("storage could not make the write durable: {d}"))
            }
            StoreError::Unavailable(d) => Self::Unavailable(format!("storage unavailable: {d}")),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<valv_kms::KmsError> for VaultError {
    fn from(e: valv_kms::KmsError) -> Self {
        match e {
            valv_kms::KmsError::ActiveVersion(_) => {
                Self::FailedPrecondition(format!("version: {e}"))
            }
            valv_kms::KmsError::Sealed => Self::FailedPrecondition(e.to_string()),
            valv_kms::KmsError::Share(rule) => Self::invalid("share", rule),
            other => Self::Internal(format!("key material: {other}")),
        }
    }
}

/// Result alias.
pub type VaultResult<T> = Result<T, VaultError>;
