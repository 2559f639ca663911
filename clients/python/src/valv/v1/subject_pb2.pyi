from valv.v1 import consent_pb2 as _consent_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubjectEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_EVENT_KIND_UNSPECIFIED: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_CONSENT_GRANTED: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_CONSENT_WITHDRAWN: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_CONSENT_EXPIRED: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_RESTRICTED: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_RESTRICTION_LIFTED: _ClassVar[SubjectEventKind]
    SUBJECT_EVENT_KIND_ERASED: _ClassVar[SubjectEventKind]
SUBJECT_EVENT_KIND_UNSPECIFIED: SubjectEventKind
SUBJECT_EVENT_KIND_CONSENT_GRANTED: SubjectEventKind
SUBJECT_EVENT_KIND_CONSENT_WITHDRAWN: SubjectEventKind
SUBJECT_EVENT_KIND_CONSENT_EXPIRED: SubjectEventKind
SUBJECT_EVENT_KIND_RESTRICTED: SubjectEventKind
SUBJECT_EVENT_KIND_RESTRICTION_LIFTED: SubjectEventKind
SUBJECT_EVENT_KIND_ERASED: SubjectEventKind

class WatchSubjectEventsRequest(_message.Message):
    __slots__ = ("after_seq", "follow")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    follow: bool
    def __init__(self, after_seq: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class SubjectEvent(_message.Message):
    __slots__ = ("seq", "at_unix_ms", "kind", "subject_ref", "purpose", "domain", "pseudonym")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at_unix_ms: int
    kind: SubjectEventKind
    subject_ref: str
    purpose: str
    domain: str
    pseudonym: str
    def __init__(self, seq: _Optional[int] = ..., at_unix_ms: _Optional[int] = ..., kind: _Optional[_Union[SubjectEventKind, str]] = ..., subject_ref: _Optional[str] = ..., purpose: _Optional[str] = ..., domain: _Optional[str] = ..., pseudonym: _Optional[str] = ...) -> None: ...

class ExportSubjectRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: _consent_pb2.SubjectRef
    def __init__(self, subject: _Optional[_Union[_consent_pb2.SubjectRef, _Mapping]] = ...) -> None: ...

class ExportSubjectResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: str
    def __init__(self, document: _Optional[str] = ...) -> None: ...

class EraseSubjectRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: _consent_pb2.SubjectRef
    def __init__(self, subject: _Optional[_Union[_consent_pb2.SubjectRef, _Mapping]] = ...) -> None: ...

class Tombstone(_message.Message):
    __slots__ = ("subject_ref", "erased_unix_ms", "erased_by", "mappings", "consent_events", "evidence")
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    ERASED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERASED_BY_FIELD_NUMBER: _ClassVar[int]
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    subject_ref: str
    erased_unix_ms: int
    erased_by: str
    mappings: int
    consent_events: int
    evidence: int
    def __init__(self, subject_ref: _Optional[str] = ..., erased_unix_ms: _Optional[int] = ..., erased_by: _Optional[str] = ..., mappings: _Optional[int] = ..., consent_events: _Optional[int] = ..., evidence: _Optional[int] = ...) -> None: ...

class EraseSubjectResponse(_message.Message):
    __slots__ = ("tombstone",)
    TOMBSTONE_FIELD_NUMBER: _ClassVar[int]
    tombstone: Tombstone
    def __init__(self, tombstone: _Optional[_Union[Tombstone, _Mapping]] = ...) -> None: ...

class RestrictSubjectRequest(_message.Message):
    __slots__ = ("subject", "reason")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subject: _consent_pb2.SubjectRef
    reason: str
    def __init__(self, subject: _Optional[_Union[_consent_pb2.SubjectRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RestrictSubjectResponse(_message.Message):
    __slots__ = ("subject_ref",)
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    subject_ref: str
    def __init__(self, subject_ref: _Optional[str] = ...) -> None: ...

class LiftRestrictionRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: _consent_pb2.SubjectRef
    def __init__(self, subject: _Optional[_Union[_consent_pb2.SubjectRef, _Mapping]] = ...) -> None: ...

class LiftRestrictionResponse(_message.Message):
    __slots__ = ("lifted",)
    LIFTED_FIELD_NUMBER: _ClassVar[int]
    lifted: bool
    def __init__(self, lifted: _Optional[bool] = ...) -> None: ...
