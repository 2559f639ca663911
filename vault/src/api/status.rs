//! The one place where vault errors become gRPC statuses.

use tonic::{Code, Status};

use crate::error::VaultError;

/// Maps an error to its status. Internal details are logged (they never hold identifiers) and
/// replaced by a generic message.
pub fn to_status(e: VaultError) -> Status {
    match e {
        VaultError::InvalidArgument { field, rule } => {
            Status::new(Code::InvalidArgument, format!("{field}: {rule}"))
        }
        VaultError::Unauthenticated(m) => Status::new(Code::Unauthenticated, m),
        VaultError::PermissionDenied(m) => Status::new(Code::PermissionDenied, m),
        VaultError::NotFound(m) => Status::new(Code::NotFound, m),
        VaultError::AlreadyExists(m) => Status::new(Code::AlreadyExists, m),
        VaultError::FailedPrecondition(m) => Status::new(Code::FailedPrecondition, m),
        VaultError::ResourceExhausted(m) => Status::new(Code::ResourceExhausted, m),
        VaultError::Quota {
            message,
            retry_after_seconds,
        } => retry_after(
            Status::new(Code::ResourceExhausted, message),
            retry_after_seconds,
        ),
        VaultError::Aborted(m) => Status::new(Code::Aborted, m),
        VaultError::Tampered(m) => Status::new(Code::DataLoss, m),
        VaultError::Unavailable(m) => {
            tracing::error!(error = %m, "request refused: could not record durably");
            Status::new(Code::Unavailable, m)
        }
        VaultError::Internal(m) => {
            tracing::error!(error = %m, "internal error");
            Status::new(Code::Internal, "internal error")
        }
    }
}

/// The metadata key of a retry hint (whole seconds) on RESOURCE_EXHAUSTED answers.
pub const RETRY_AFTER: &str = "retry-after-seconds";

/// `status` with a retry hint of `seconds` (at least one).
pub fn retry_after(mut status: Status, seconds: u64) -> Status {
    if let Ok(v) = seconds.max(1).to_string().parse() {
        status.metadata_mut().insert(RETRY_AFTER, v);
    }
    status
}
