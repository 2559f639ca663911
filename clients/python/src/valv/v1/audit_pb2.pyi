from valv.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditCount(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...

class AuditItem(_message.Message):
    __slots__ = ("target", "outcome", "subject")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    target: str
    outcome: str
    subject: str
    def __init__(self, target: _Optional[str] = ..., outcome: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("chain", "seq", "at_unix_ms", "principal", "action", "domain", "purpose", "subject", "verdict", "request_id", "counts", "items", "prev_hash", "hash", "changes")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    chain: int
    seq: int
    at_unix_ms: int
    principal: str
    action: str
    domain: str
    purpose: str
    subject: str
    verdict: str
    request_id: str
    counts: _containers.RepeatedCompositeFieldContainer[AuditCount]
    items: _containers.RepeatedCompositeFieldContainer[AuditItem]
    prev_hash: bytes
    hash: bytes
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.AuditChange]
    def __init__(self, chain: _Optional[int] = ..., seq: _Optional[int] = ..., at_unix_ms: _Optional[int] = ..., principal: _Optional[str] = ..., action: _Optional[str] = ..., domain: _Optional[str] = ..., purpose: _Optional[str] = ..., subject: _Optional[str] = ..., verdict: _Optional[str] = ..., request_id: _Optional[str] = ..., counts: _Optional[_Iterable[_Union[AuditCount, _Mapping]]] = ..., items: _Optional[_Iterable[_Union[AuditItem, _Mapping]]] = ..., prev_hash: _Optional[bytes] = ..., hash: _Optional[bytes] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.AuditChange, _Mapping]]] = ...) -> None: ...

class AuditCheckpoint(_message.Message):
    __slots__ = ("chain", "seq", "head_hash", "at_unix_ms", "signature")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    chain: int
    seq: int
    head_hash: bytes
    at_unix_ms: int
    signature: bytes
    def __init__(self, chain: _Optional[int] = ..., seq: _Optional[int] = ..., head_hash: _Optional[bytes] = ..., at_unix_ms: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ReadAuditRequest(_message.Message):
    __slots__ = ("operator_chain", "from_unix_ms", "to_unix_ms", "action", "principal", "subject", "include_checkpoints")
    OPERATOR_CHAIN_FIELD_NUMBER: _ClassVar[int]
    FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TO_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    operator_chain: bool
    from_unix_ms: int
    to_unix_ms: int
    action: str
    principal: str
    subject: str
    include_checkpoints: bool
    def __init__(self, operator_chain: _Optional[bool] = ..., from_unix_ms: _Optional[int] = ..., to_unix_ms: _Optional[int] = ..., action: _Optional[str] = ..., principal: _Optional[str] = ..., subject: _Optional[str] = ..., include_checkpoints: _Optional[bool] = ...) -> None: ...

class ReadAuditResponse(_message.Message):
    __slots__ = ("entry", "checkpoint")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    entry: AuditEntry
    checkpoint: AuditCheckpoint
    def __init__(self, entry: _Optional[_Union[AuditEntry, _Mapping]] = ..., checkpoint: _Optional[_Union[AuditCheckpoint, _Mapping]] = ...) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ("operator_chain",)
    OPERATOR_CHAIN_FIELD_NUMBER: _ClassVar[int]
    operator_chain: bool
    def __init__(self, operator_chain: _Optional[bool] = ...) -> None: ...

class VerifyAuditResponse(_message.Message):
    __slots__ = ("ok", "entries", "checkpoints", "last_checkpoint_seq", "first_bad_seq", "problem")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_SEQ_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries: int
    checkpoints: int
    last_checkpoint_seq: int
    first_bad_seq: int
    problem: str
    def __init__(self, ok: _Optional[bool] = ..., entries: _Optional[int] = ..., checkpoints: _Optional[int] = ..., last_checkpoint_seq: _Optional[int] = ..., first_bad_seq: _Optional[int] = ..., problem: _Optional[str] = ...) -> None: ...

class GetAuditKeyRequest(_message.Message):
    __slots__ = ("operator_chain",)
    OPERATOR_CHAIN_FIELD_NUMBER: _ClassVar[int]
    operator_chain: bool
    def __init__(self, operator_chain: _Optional[bool] = ...) -> None: ...

class GetAuditKeyResponse(_message.Message):
    __slots__ = ("chain", "public_key")
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    chain: int
    public_key: bytes
    def __init__(self, chain: _Optional[int] = ..., public_key: _Optional[bytes] = ...) -> None: ...
