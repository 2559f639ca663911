from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlanRetentionRequest(_message.Message):
    __slots__ = ("until_unix_ms", "limit")
    UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    until_unix_ms: int
    limit: int
    def __init__(self, until_unix_ms: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class RetentionItem(_message.Message):
    __slots__ = ("kind", "domain_or_purpose", "pseudonym_or_receipt", "due_unix_ms", "reason")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_OR_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_OR_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    DUE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    domain_or_purpose: str
    pseudonym_or_receipt: str
    due_unix_ms: int
    reason: str
    def __init__(self, kind: _Optional[str] = ..., domain_or_purpose: _Optional[str] = ..., pseudonym_or_receipt: _Optional[str] = ..., due_unix_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PlanRetentionResponse(_message.Message):
    __slots__ = ("items", "total")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RetentionItem]
    total: int
    def __init__(self, items: _Optional[_Iterable[_Union[RetentionItem, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class RunRetentionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunRetentionResponse(_message.Message):
    __slots__ = ("mappings_deleted", "evidence_deleted")
    MAPPINGS_DELETED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_DELETED_FIELD_NUMBER: _ClassVar[int]
    mappings_deleted: int
    evidence_deleted: int
    def __init__(self, mappings_deleted: _Optional[int] = ..., evidence_deleted: _Optional[int] = ...) -> None: ...
