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

/// What tonic prefixes to a request that did not decode (it answers INTERNAL).
const UNDECODABLE: &str = "failed to decode Protobuf message: ";

/// A request that does not decode is the caller's error, not the server's: tonic's INTERNAL
/// answer with prost's description (`Msg.field: … description`, innermost first) becomes
/// INVALID_ARGUMENT naming the field and the rule. The description never holds request data.
pub(crate) fn undecodable(status: &Status) -> Option<Status> {
    if status.code() != Code::Internal {
        return None;
    }
    let mut rest = status.message().strip_prefix(UNDECODABLE)?;
    let mut fields = Vec::new();
    while let Some((head, tail)) = rest.split_once(": ") {
        let Some((_, field)) = head.rsplit_once('.').filter(|_| !head.contains(' ')) else {
            break;
        };
        fields.push(field);
        rest = tail;
    }
    fields.reverse();
    let field = if fields.is_empty() {
        "request".to_owned()
    } else {
        fields.join(".")
    };
    let rule = if rest.contains("UTF-8") {
        "must be valid UTF-8".to_owned()
    } else {
        format!("not a valid message ({rest})")
    };
    Some(Status::invalid_argument(format!("{field}: {rule}")))
}

/// Rewrites a status carried in `headers` (a trailers-only answer, or a stream's trailers)
/// by [`undecodable`].
pub(crate) fn fix_undecodable(headers: &mut http::HeaderMap) {
    if let Some(fixed) = Status::from_header_map(headers)
        .as_ref()
        .and_then(undecodable)
    {
        let _ = fixed.add_header(headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_does_not_decode_names_its_field() {
        let utf8 = Status::internal(
            "failed to decode Protobuf message: PseudonymiseRequest.identifiers: invalid string value: data is not UTF-8 encoded",
        );
        let fixed = undecodable(&utf8).unwrap();
        assert_eq!(fixed.code(), Code::InvalidArgument);
        assert_eq!(fixed.message(), "identifiers: must be valid UTF-8");
        let nested = Status::internal(
            "failed to decode Protobuf message: RecordField.path: DefineRecordPolicyRequest.fields: invalid wire type: LengthDelimited (expected Varint)",
        );
        assert_eq!(
            undecodable(&nested).unwrap().message(),
            "fields.path: not a valid message (invalid wire type: LengthDelimited (expected Varint))"
        );
        let bare = Status::internal("failed to decode Protobuf message: buffer underflow");
        assert_eq!(
            undecodable(&bare).unwrap().message(),
            "request: not a valid message (buffer underflow)"
        );
        assert!(undecodable(&Status::internal("internal error")).is_none());
        assert!(undecodable(&Status::not_found("failed to decode Protobuf message: x")).is_none());
    }
}
