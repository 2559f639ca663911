from valv.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyVersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_VERSION_STATE_UNSPECIFIED: _ClassVar[KeyVersionState]
    KEY_VERSION_STATE_ACTIVE: _ClassVar[KeyVersionState]
    KEY_VERSION_STATE_DECRYPT_ONLY: _ClassVar[KeyVersionState]
    KEY_VERSION_STATE_RETIRED: _ClassVar[KeyVersionState]
    KEY_VERSION_STATE_DESTROYED: _ClassVar[KeyVersionState]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
KEY_VERSION_STATE_UNSPECIFIED: KeyVersionState
KEY_VERSION_STATE_ACTIVE: KeyVersionState
KEY_VERSION_STATE_DECRYPT_ONLY: KeyVersionState
KEY_VERSION_STATE_RETIRED: KeyVersionState
KEY_VERSION_STATE_DESTROYED: KeyVersionState
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_FAILED: JobState

class KeyVersionInfo(_message.Message):
    __slots__ = ("version", "state", "created_unix_ms", "records", "encryptions", "budget")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTIONS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    version: int
    state: KeyVersionState
    created_unix_ms: int
    records: int
    encryptions: int
    budget: int
    def __init__(self, version: _Optional[int] = ..., state: _Optional[_Union[KeyVersionState, str]] = ..., created_unix_ms: _Optional[int] = ..., records: _Optional[int] = ..., encryptions: _Optional[int] = ..., budget: _Optional[int] = ...) -> None: ...

class ListKeyVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKeyVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[KeyVersionInfo]
    def __init__(self, versions: _Optional[_Iterable[_Union[KeyVersionInfo, _Mapping]]] = ...) -> None: ...

class RotateTenantKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateTenantKeyResponse(_message.Message):
    __slots__ = ("new_version", "job_id")
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    new_version: int
    job_id: int
    def __init__(self, new_version: _Optional[int] = ..., job_id: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "done", "total", "rate_per_second", "estimated_end_unix_ms", "started_unix_ms", "finished_unix_ms", "target_version", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    state: JobState
    done: int
    total: int
    rate_per_second: float
    estimated_end_unix_ms: int
    started_unix_ms: int
    finished_unix_ms: int
    target_version: int
    error: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., rate_per_second: _Optional[float] = ..., estimated_end_unix_ms: _Optional[int] = ..., started_unix_ms: _Optional[int] = ..., finished_unix_ms: _Optional[int] = ..., target_version: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class DomainRecords(_message.Message):
    __slots__ = ("domain", "records")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    records: int
    def __init__(self, domain: _Optional[str] = ..., records: _Optional[int] = ...) -> None: ...

class DestroyKeyVersionRequest(_message.Message):
    __slots__ = ("version", "force")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    version: int
    force: bool
    def __init__(self, version: _Optional[int] = ..., force: _Optional[bool] = ...) -> None: ...

class DestroyKeyVersionResponse(_message.Message):
    __slots__ = ("destroyed", "pending_operation_id", "approve_before_unix_ms", "records")
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    destroyed: bool
    pending_operation_id: int
    approve_before_unix_ms: int
    records: _containers.RepeatedCompositeFieldContainer[DomainRecords]
    def __init__(self, destroyed: _Optional[bool] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ..., records: _Optional[_Iterable[_Union[DomainRecords, _Mapping]]] = ...) -> None: ...

class ApproveOperationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ApproveOperationResponse(_message.Message):
    __slots__ = ("kind", "summary", "new_shares")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NEW_SHARES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    summary: str
    new_shares: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[str] = ..., summary: _Optional[str] = ..., new_shares: _Optional[_Iterable[str]] = ...) -> None: ...

class RefuseOperationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RefuseOperationResponse(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class PendingOperation(_message.Message):
    __slots__ = ("id", "kind", "requested_by", "requested_unix_ms", "expires_unix_ms", "summary", "changes")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    requested_by: str
    requested_unix_ms: int
    expires_unix_ms: int
    summary: str
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.AuditChange]
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., requested_by: _Optional[str] = ..., requested_unix_ms: _Optional[int] = ..., expires_unix_ms: _Optional[int] = ..., summary: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.AuditChange, _Mapping]]] = ...) -> None: ...

class ListPendingOperationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPendingOperationsResponse(_message.Message):
    __slots__ = ("operations",)
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[PendingOperation]
    def __init__(self, operations: _Optional[_Iterable[_Union[PendingOperation, _Mapping]]] = ...) -> None: ...

class RotateRootKeyRequest(_message.Message):
    __slots__ = ("new_shares", "new_threshold")
    NEW_SHARES_FIELD_NUMBER: _ClassVar[int]
    NEW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    new_shares: int
    new_threshold: int
    def __init__(self, new_shares: _Optional[int] = ..., new_threshold: _Optional[int] = ...) -> None: ...

class RotateRootKeyResponse(_message.Message):
    __slots__ = ("rotated", "root_key_id", "pending_operation_id", "approve_before_unix_ms", "new_shares")
    ROTATED_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NEW_SHARES_FIELD_NUMBER: _ClassVar[int]
    rotated: bool
    root_key_id: str
    pending_operation_id: int
    approve_before_unix_ms: int
    new_shares: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rotated: _Optional[bool] = ..., root_key_id: _Optional[str] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ..., new_shares: _Optional[_Iterable[str]] = ...) -> None: ...

class ShredTenantRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ShredTenantResponse(_message.Message):
    __slots__ = ("shredded", "pending_operation_id", "approve_before_unix_ms")
    SHREDDED_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    shredded: bool
    pending_operation_id: int
    approve_before_unix_ms: int
    def __init__(self, shredded: _Optional[bool] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ...) -> None: ...

class RotateDomainEpochRequest(_message.Message):
    __slots__ = ("domain", "grace_seconds")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    grace_seconds: int
    def __init__(self, domain: _Optional[str] = ..., grace_seconds: _Optional[int] = ...) -> None: ...

class RotateDomainEpochResponse(_message.Message):
    __slots__ = ("epoch", "old_epochs_until_unix_ms")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    OLD_EPOCHS_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    old_epochs_until_unix_ms: int
    def __init__(self, epoch: _Optional[int] = ..., old_epochs_until_unix_ms: _Optional[int] = ...) -> None: ...

class TranslateEpochRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class PseudonymPair(_message.Message):
    __slots__ = ("old_pseudonym", "new_pseudonym")
    OLD_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    NEW_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    old_pseudonym: str
    new_pseudonym: str
    def __init__(self, old_pseudonym: _Optional[str] = ..., new_pseudonym: _Optional[str] = ...) -> None: ...

class FinalizeEpochRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class FinalizeEpochResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...
