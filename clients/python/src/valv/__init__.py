"""Python client for Valv, the pseudonymisation and identifier vault.

    from valv import Client

    with Client.from_env() as valv:
        pseudonyms = valv.pseudonymise("patients", ["19520903-5525"])

Errors raise :class:`ValvError` (subclasses per gRPC status). The generated messages and stubs
of every service are in :mod:`valv.v1`; :mod:`valv.dataframe` works on pandas columns.
"""

from .client import (
    DEFAULT_ADDR,
    Client,
    FieldVerdict,
    ItemError,
    RecordResult,
    ReIdentified,
    ReIdentifiedRecord,
    Translated,
)
from .errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    ValvError,
)

__all__ = [
    "DEFAULT_ADDR",
    "Client",
    "FailedPrecondition",
    "FieldVerdict",
    "InvalidArgument",
    "ItemError",
    "NotFound",
    "PermissionDenied",
    "ReIdentified",
    "ReIdentifiedRecord",
    "Translated",
    "RecordResult",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "ValvError",
]
