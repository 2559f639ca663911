"""Errors as Python exceptions: every failed call raises a `ValvError` (or a subclass per gRPC
status code) carrying the code and the server's message, which names the field and the rule and
never the identifier."""

from __future__ import annotations

import grpc


class ValvError(Exception):
    """A call to the vault failed.

    Attributes:
        code: the gRPC status code (`grpc.StatusCode`).
        details: the server's message, e.g. ``"domain: no such domain in this tenant"``.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgument(ValvError):
    """A field broke a rule (INVALID_ARGUMENT); nothing was changed."""


class NotFound(ValvError):
    """No such domain, purpose, policy or subject in this tenant (NOT_FOUND)."""


class PermissionDenied(ValvError):
    """The principal's role does not allow the call (PERMISSION_DENIED)."""


class Unauthenticated(ValvError):
    """No valid token (UNAUTHENTICATED)."""


class FailedPrecondition(ValvError):
    """The vault's state does not allow the call, e.g. it is sealed (FAILED_PRECONDITION)."""


class ResourceExhausted(ValvError):
    """The request is over a limit (RESOURCE_EXHAUSTED)."""


class Unavailable(ValvError):
    """The vault cannot be reached or asks to retry later (UNAVAILABLE)."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def from_rpc_error(error: grpc.RpcError) -> ValvError:
    """The exception for a failed call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return _BY_CODE.get(code, ValvError)(code, details or "")
