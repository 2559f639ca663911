from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_METHOD_UNSPECIFIED: _ClassVar[ConsentMethod]
    CONSENT_METHOD_BANKID: _ClassVar[ConsentMethod]
    CONSENT_METHOD_SMS_OTP: _ClassVar[ConsentMethod]
    CONSENT_METHOD_SIGNATURE: _ClassVar[ConsentMethod]
    CONSENT_METHOD_ORAL: _ClassVar[ConsentMethod]
    CONSENT_METHOD_PAPER: _ClassVar[ConsentMethod]
    CONSENT_METHOD_WEB: _ClassVar[ConsentMethod]

class ConsentEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_EVENT_KIND_UNSPECIFIED: _ClassVar[ConsentEventKind]
    CONSENT_EVENT_KIND_GRANTED: _ClassVar[ConsentEventKind]
    CONSENT_EVENT_KIND_WITHDRAWN: _ClassVar[ConsentEventKind]

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_NONE: _ClassVar[ConsentStatus]
    CONSENT_STATUS_GRANTED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_WITHDRAWN: _ClassVar[ConsentStatus]
    CONSENT_STATUS_EXPIRED: _ClassVar[ConsentStatus]
CONSENT_METHOD_UNSPECIFIED: ConsentMethod
CONSENT_METHOD_BANKID: ConsentMethod
CONSENT_METHOD_SMS_OTP: ConsentMethod
CONSENT_METHOD_SIGNATURE: ConsentMethod
CONSENT_METHOD_ORAL: ConsentMethod
CONSENT_METHOD_PAPER: ConsentMethod
CONSENT_METHOD_WEB: ConsentMethod
CONSENT_EVENT_KIND_UNSPECIFIED: ConsentEventKind
CONSENT_EVENT_KIND_GRANTED: ConsentEventKind
CONSENT_EVENT_KIND_WITHDRAWN: ConsentEventKind
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_NONE: ConsentStatus
CONSENT_STATUS_GRANTED: ConsentStatus
CONSENT_STATUS_WITHDRAWN: ConsentStatus
CONSENT_STATUS_EXPIRED: ConsentStatus

class SubjectRef(_message.Message):
    __slots__ = ("domain", "identifier", "pseudonym")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    domain: str
    identifier: str
    pseudonym: str
    def __init__(self, domain: _Optional[str] = ..., identifier: _Optional[str] = ..., pseudonym: _Optional[str] = ...) -> None: ...

class ConsentEvent(_message.Message):
    __slots__ = ("seq", "purpose", "kind", "text_version", "method", "at_unix_ms", "valid_until_unix_ms", "recorded_by", "channel", "receipt_id", "text_sha256", "guardian_ref", "evidence_bytes", "evidence_media_type", "subject_domain", "subject_pseudonym")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    GUARDIAN_REF_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    seq: int
    purpose: str
    kind: ConsentEventKind
    text_version: int
    method: ConsentMethod
    at_unix_ms: int
    valid_until_unix_ms: int
    recorded_by: str
    channel: str
    receipt_id: str
    text_sha256: str
    guardian_ref: str
    evidence_bytes: int
    evidence_media_type: str
    subject_domain: str
    subject_pseudonym: str
    def __init__(self, seq: _Optional[int] = ..., purpose: _Optional[str] = ..., kind: _Optional[_Union[ConsentEventKind, str]] = ..., text_version: _Optional[int] = ..., method: _Optional[_Union[ConsentMethod, str]] = ..., at_unix_ms: _Optional[int] = ..., valid_until_unix_ms: _Optional[int] = ..., recorded_by: _Optional[str] = ..., channel: _Optional[str] = ..., receipt_id: _Optional[str] = ..., text_sha256: _Optional[str] = ..., guardian_ref: _Optional[str] = ..., evidence_bytes: _Optional[int] = ..., evidence_media_type: _Optional[str] = ..., subject_domain: _Optional[str] = ..., subject_pseudonym: _Optional[str] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("purpose", "status", "granted_after_unix_ms", "granted_before_unix_ms", "expiring_after_unix_ms", "expiring_before_unix_ms", "text_version_below", "page_size", "page_token")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AFTER_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_AFTER_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSION_BELOW_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    status: ConsentStatus
    granted_after_unix_ms: int
    granted_before_unix_ms: int
    expiring_after_unix_ms: int
    expiring_before_unix_ms: int
    text_version_below: int
    page_size: int
    page_token: str
    def __init__(self, purpose: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., granted_after_unix_ms: _Optional[int] = ..., granted_before_unix_ms: _Optional[int] = ..., expiring_after_unix_ms: _Optional[int] = ..., expiring_before_unix_ms: _Optional[int] = ..., text_version_below: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ConsentSummary(_message.Message):
    __slots__ = ("subject_ref", "purpose", "status", "latest")
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    subject_ref: str
    purpose: str
    status: ConsentStatus
    latest: ConsentEvent
    def __init__(self, subject_ref: _Optional[str] = ..., purpose: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., latest: _Optional[_Union[ConsentEvent, _Mapping]] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[ConsentSummary]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[ConsentSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ConsentStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurposeStats(_message.Message):
    __slots__ = ("purpose", "granted", "withdrawn", "expired")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    granted: int
    withdrawn: int
    expired: int
    def __init__(self, purpose: _Optional[str] = ..., granted: _Optional[int] = ..., withdrawn: _Optional[int] = ..., expired: _Optional[int] = ...) -> None: ...

class ConsentStatsResponse(_message.Message):
    __slots__ = ("purposes",)
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[PurposeStats]
    def __init__(self, purposes: _Optional[_Iterable[_Union[PurposeStats, _Mapping]]] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("subject", "purpose", "text_version", "method", "valid_until_unix_ms", "channel", "evidence", "evidence_media_type", "guardian")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    GUARDIAN_FIELD_NUMBER: _ClassVar[int]
    subject: SubjectRef
    purpose: str
    text_version: int
    method: ConsentMethod
    valid_until_unix_ms: int
    channel: str
    evidence: bytes
    evidence_media_type: str
    guardian: SubjectRef
    def __init__(self, subject: _Optional[_Union[SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ..., text_version: _Optional[int] = ..., method: _Optional[_Union[ConsentMethod, str]] = ..., valid_until_unix_ms: _Optional[int] = ..., channel: _Optional[str] = ..., evidence: _Optional[bytes] = ..., evidence_media_type: _Optional[str] = ..., guardian: _Optional[_Union[SubjectRef, _Mapping]] = ...) -> None: ...

class GrantConsentResponse(_message.Message):
    __slots__ = ("event", "receipt")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    event: ConsentEvent
    receipt: str
    def __init__(self, event: _Optional[_Union[ConsentEvent, _Mapping]] = ..., receipt: _Optional[str] = ...) -> None: ...

class VerifyReceiptRequest(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: str
    def __init__(self, receipt: _Optional[str] = ...) -> None: ...

class VerifyReceiptResponse(_message.Message):
    __slots__ = ("valid", "problem", "receipt_id", "current_status")
    VALID_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    problem: str
    receipt_id: str
    current_status: ConsentStatus
    def __init__(self, valid: _Optional[bool] = ..., problem: _Optional[str] = ..., receipt_id: _Optional[str] = ..., current_status: _Optional[_Union[ConsentStatus, str]] = ...) -> None: ...

class GetReceiptKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetReceiptKeyResponse(_message.Message):
    __slots__ = ("tenant", "public_key", "key_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    public_key: bytes
    key_id: str
    def __init__(self, tenant: _Optional[str] = ..., public_key: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class WithdrawConsentRequest(_message.Message):
    __slots__ = ("subject", "purpose")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    subject: SubjectRef
    purpose: str
    def __init__(self, subject: _Optional[_Union[SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class WithdrawConsentResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ConsentEvent
    def __init__(self, event: _Optional[_Union[ConsentEvent, _Mapping]] = ...) -> None: ...

class GetConsentHistoryRequest(_message.Message):
    __slots__ = ("subject", "purpose")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    subject: SubjectRef
    purpose: str
    def __init__(self, subject: _Optional[_Union[SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class PurposeConsent(_message.Message):
    __slots__ = ("purpose", "status", "events")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    status: ConsentStatus
    events: _containers.RepeatedCompositeFieldContainer[ConsentEvent]
    def __init__(self, purpose: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., events: _Optional[_Iterable[_Union[ConsentEvent, _Mapping]]] = ...) -> None: ...

class GetConsentHistoryResponse(_message.Message):
    __slots__ = ("purposes",)
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[PurposeConsent]
    def __init__(self, purposes: _Optional[_Iterable[_Union[PurposeConsent, _Mapping]]] = ...) -> None: ...
