from valv.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_RELEASED: _ClassVar[Verdict]
    VERDICT_NO_CONSENT: _ClassVar[Verdict]
    VERDICT_CONSENT_WITHDRAWN: _ClassVar[Verdict]
    VERDICT_CONSENT_EXPIRED: _ClassVar[Verdict]
    VERDICT_NOT_FOUND: _ClassVar[Verdict]
    VERDICT_DENIED: _ClassVar[Verdict]
    VERDICT_KEY_DESTROYED: _ClassVar[Verdict]
    VERDICT_RESTRICTED: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
VERDICT_RELEASED: Verdict
VERDICT_NO_CONSENT: Verdict
VERDICT_CONSENT_WITHDRAWN: Verdict
VERDICT_CONSENT_EXPIRED: Verdict
VERDICT_NOT_FOUND: Verdict
VERDICT_DENIED: Verdict
VERDICT_KEY_DESTROYED: Verdict
VERDICT_RESTRICTED: Verdict

class PseudonymiseRequest(_message.Message):
    __slots__ = ("domain", "identifiers", "batch_id")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    domain: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    batch_id: int
    def __init__(self, domain: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ..., batch_id: _Optional[int] = ...) -> None: ...

class PseudonymiseResult(_message.Message):
    __slots__ = ("pseudonym", "error")
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    pseudonym: str
    error: _common_pb2.ItemError
    def __init__(self, pseudonym: _Optional[str] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...

class PseudonymiseResponse(_message.Message):
    __slots__ = ("batch_id", "results", "created")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    results: _containers.RepeatedCompositeFieldContainer[PseudonymiseResult]
    created: int
    def __init__(self, batch_id: _Optional[int] = ..., results: _Optional[_Iterable[_Union[PseudonymiseResult, _Mapping]]] = ..., created: _Optional[int] = ...) -> None: ...

class ReIdentifyRequest(_message.Message):
    __slots__ = ("domain", "purpose", "pseudonyms")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYMS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    purpose: str
    pseudonyms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domain: _Optional[str] = ..., purpose: _Optional[str] = ..., pseudonyms: _Optional[_Iterable[str]] = ...) -> None: ...

class ReIdentifyResult(_message.Message):
    __slots__ = ("verdict", "identifier", "old_epoch")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    OLD_EPOCH_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    identifier: str
    old_epoch: bool
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., identifier: _Optional[str] = ..., old_epoch: _Optional[bool] = ...) -> None: ...

class ReIdentifyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReIdentifyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ReIdentifyResult, _Mapping]]] = ...) -> None: ...

class TranslatePseudonymsRequest(_message.Message):
    __slots__ = ("agreement", "pseudonyms", "batch_id")
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYMS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    agreement: str
    pseudonyms: _containers.RepeatedScalarFieldContainer[str]
    batch_id: int
    def __init__(self, agreement: _Optional[str] = ..., pseudonyms: _Optional[_Iterable[str]] = ..., batch_id: _Optional[int] = ...) -> None: ...

class TranslateResult(_message.Message):
    __slots__ = ("verdict", "pseudonym", "old_epoch")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    OLD_EPOCH_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    pseudonym: str
    old_epoch: bool
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., pseudonym: _Optional[str] = ..., old_epoch: _Optional[bool] = ...) -> None: ...

class TranslatePseudonymsResponse(_message.Message):
    __slots__ = ("results", "batch_id", "created")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TranslateResult]
    batch_id: int
    created: int
    def __init__(self, results: _Optional[_Iterable[_Union[TranslateResult, _Mapping]]] = ..., batch_id: _Optional[int] = ..., created: _Optional[int] = ...) -> None: ...

class PseudonymiseRecordsRequest(_message.Message):
    __slots__ = ("policy", "records", "batch_id")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    policy: str
    records: _containers.RepeatedScalarFieldContainer[bytes]
    batch_id: int
    def __init__(self, policy: _Optional[str] = ..., records: _Optional[_Iterable[bytes]] = ..., batch_id: _Optional[int] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("errors",)
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...

class PseudonymiseRecordResult(_message.Message):
    __slots__ = ("record", "error")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    record: bytes
    error: RecordError
    def __init__(self, record: _Optional[bytes] = ..., error: _Optional[_Union[RecordError, _Mapping]] = ...) -> None: ...

class PseudonymiseRecordsResponse(_message.Message):
    __slots__ = ("batch_id", "results", "created")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    results: _containers.RepeatedCompositeFieldContainer[PseudonymiseRecordResult]
    created: int
    def __init__(self, batch_id: _Optional[int] = ..., results: _Optional[_Iterable[_Union[PseudonymiseRecordResult, _Mapping]]] = ..., created: _Optional[int] = ...) -> None: ...

class ReIdentifyRecordsRequest(_message.Message):
    __slots__ = ("policy", "purpose", "records")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    policy: str
    purpose: str
    records: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, policy: _Optional[str] = ..., purpose: _Optional[str] = ..., records: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FieldVerdict(_message.Message):
    __slots__ = ("pointer", "verdict", "old_epoch")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    OLD_EPOCH_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    verdict: Verdict
    old_epoch: bool
    def __init__(self, pointer: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., old_epoch: _Optional[bool] = ...) -> None: ...

class ReIdentifyRecordResult(_message.Message):
    __slots__ = ("record", "fields", "error")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    record: bytes
    fields: _containers.RepeatedCompositeFieldContainer[FieldVerdict]
    error: RecordError
    def __init__(self, record: _Optional[bytes] = ..., fields: _Optional[_Iterable[_Union[FieldVerdict, _Mapping]]] = ..., error: _Optional[_Union[RecordError, _Mapping]] = ...) -> None: ...

class ReIdentifyRecordsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReIdentifyRecordResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ReIdentifyRecordResult, _Mapping]]] = ...) -> None: ...

class GetLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerLimits(_message.Message):
    __slots__ = ("max_batch", "max_message_bytes", "max_identifier_bytes")
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IDENTIFIER_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_batch: int
    max_message_bytes: int
    max_identifier_bytes: int
    def __init__(self, max_batch: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_identifier_bytes: _Optional[int] = ...) -> None: ...

class CheckIdentifiersRequest(_message.Message):
    __slots__ = ("domain", "identifiers")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domain: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckIdentifiersResponse(_message.Message):
    __slots__ = ("errors",)
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    errors: _containers.RepeatedCompositeFieldContainer[_common_pb2.ItemError]
    def __init__(self, errors: _Optional[_Iterable[_Union[_common_pb2.ItemError, _Mapping]]] = ...) -> None: ...
