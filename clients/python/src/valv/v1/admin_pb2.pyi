from valv.v1 import common_pb2 as _common_pb2
from valv.v1 import keys_pb2 as _keys_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tenant(_message.Message):
    __slots__ = ("name", "created_unix_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_unix_ms: int
    def __init__(self, name: _Optional[str] = ..., created_unix_ms: _Optional[int] = ...) -> None: ...

class CreateTenantRequest(_message.Message):
    __slots__ = ("name", "admin_name", "admins")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_NAME_FIELD_NUMBER: _ClassVar[int]
    ADMINS_FIELD_NUMBER: _ClassVar[int]
    name: str
    admin_name: str
    admins: int
    def __init__(self, name: _Optional[str] = ..., admin_name: _Optional[str] = ..., admins: _Optional[int] = ...) -> None: ...

class Enrolment(_message.Message):
    __slots__ = ("principal", "code", "expires_unix_ms")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    code: str
    expires_unix_ms: int
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., code: _Optional[str] = ..., expires_unix_ms: _Optional[int] = ...) -> None: ...

class CreateTenantResponse(_message.Message):
    __slots__ = ("tenant", "admins")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    ADMINS_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    admins: _containers.RepeatedCompositeFieldContainer[Enrolment]
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ..., admins: _Optional[_Iterable[_Union[Enrolment, _Mapping]]] = ...) -> None: ...

class Domain(_message.Message):
    __slots__ = ("name", "kind", "scheme", "reversible", "retention_seconds", "epoch", "created_unix_ms", "retention_since_last_use", "consent_purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    REVERSIBLE_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SINCE_LAST_USE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: _common_pb2.IdentifierKind
    scheme: _common_pb2.Scheme
    reversible: bool
    retention_seconds: int
    epoch: int
    created_unix_ms: int
    retention_since_last_use: bool
    consent_purpose: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.IdentifierKind, str]] = ..., scheme: _Optional[_Union[_common_pb2.Scheme, str]] = ..., reversible: _Optional[bool] = ..., retention_seconds: _Optional[int] = ..., epoch: _Optional[int] = ..., created_unix_ms: _Optional[int] = ..., retention_since_last_use: _Optional[bool] = ..., consent_purpose: _Optional[str] = ...) -> None: ...

class CreateDomainRequest(_message.Message):
    __slots__ = ("name", "kind", "scheme", "reversible", "retention_seconds", "retention_since_last_use", "consent_purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    REVERSIBLE_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SINCE_LAST_USE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: _common_pb2.IdentifierKind
    scheme: _common_pb2.Scheme
    reversible: bool
    retention_seconds: int
    retention_since_last_use: bool
    consent_purpose: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.IdentifierKind, str]] = ..., scheme: _Optional[_Union[_common_pb2.Scheme, str]] = ..., reversible: _Optional[bool] = ..., retention_seconds: _Optional[int] = ..., retention_since_last_use: _Optional[bool] = ..., consent_purpose: _Optional[str] = ...) -> None: ...

class CreateDomainResponse(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ...) -> None: ...

class ListDomainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains",)
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[Domain]
    def __init__(self, domains: _Optional[_Iterable[_Union[Domain, _Mapping]]] = ...) -> None: ...

class Purpose(_message.Message):
    __slots__ = ("name", "legal_basis", "min_text_version", "default_consent_validity_seconds", "description", "created_unix_ms", "updated_unix_ms", "explicit_consent", "domains", "erase_on_withdrawal", "evidence_retention_seconds", "text_versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    MIN_TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONSENT_VALIDITY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_CONSENT_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    ERASE_ON_WITHDRAWAL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    legal_basis: _common_pb2.LegalBasis
    min_text_version: int
    default_consent_validity_seconds: int
    description: str
    created_unix_ms: int
    updated_unix_ms: int
    explicit_consent: bool
    domains: _containers.RepeatedScalarFieldContainer[str]
    erase_on_withdrawal: bool
    evidence_retention_seconds: int
    text_versions: int
    def __init__(self, name: _Optional[str] = ..., legal_basis: _Optional[_Union[_common_pb2.LegalBasis, str]] = ..., min_text_version: _Optional[int] = ..., default_consent_validity_seconds: _Optional[int] = ..., description: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., updated_unix_ms: _Optional[int] = ..., explicit_consent: _Optional[bool] = ..., domains: _Optional[_Iterable[str]] = ..., erase_on_withdrawal: _Optional[bool] = ..., evidence_retention_seconds: _Optional[int] = ..., text_versions: _Optional[int] = ...) -> None: ...

class DefinePurposeRequest(_message.Message):
    __slots__ = ("name", "legal_basis", "min_text_version", "default_consent_validity_seconds", "description", "explicit_consent", "domains", "erase_on_withdrawal", "evidence_retention_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    MIN_TEXT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONSENT_VALIDITY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_CONSENT_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    ERASE_ON_WITHDRAWAL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    legal_basis: _common_pb2.LegalBasis
    min_text_version: int
    default_consent_validity_seconds: int
    description: str
    explicit_consent: bool
    domains: _containers.RepeatedScalarFieldContainer[str]
    erase_on_withdrawal: bool
    evidence_retention_seconds: int
    def __init__(self, name: _Optional[str] = ..., legal_basis: _Optional[_Union[_common_pb2.LegalBasis, str]] = ..., min_text_version: _Optional[int] = ..., default_consent_validity_seconds: _Optional[int] = ..., description: _Optional[str] = ..., explicit_consent: _Optional[bool] = ..., domains: _Optional[_Iterable[str]] = ..., erase_on_withdrawal: _Optional[bool] = ..., evidence_retention_seconds: _Optional[int] = ...) -> None: ...

class ConsentText(_message.Message):
    __slots__ = ("purpose", "version", "text", "sha256", "added_unix_ms")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ADDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    version: int
    text: str
    sha256: str
    added_unix_ms: int
    def __init__(self, purpose: _Optional[str] = ..., version: _Optional[int] = ..., text: _Optional[str] = ..., sha256: _Optional[str] = ..., added_unix_ms: _Optional[int] = ...) -> None: ...

class AddConsentTextRequest(_message.Message):
    __slots__ = ("purpose", "text")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    text: str
    def __init__(self, purpose: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class AddConsentTextResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: ConsentText
    def __init__(self, text: _Optional[_Union[ConsentText, _Mapping]] = ...) -> None: ...

class ListConsentTextsRequest(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    def __init__(self, purpose: _Optional[str] = ...) -> None: ...

class ListConsentTextsResponse(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedCompositeFieldContainer[ConsentText]
    def __init__(self, texts: _Optional[_Iterable[_Union[ConsentText, _Mapping]]] = ...) -> None: ...

class GetTenantSettingsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetTenantSettingsRequest(_message.Message):
    __slots__ = ("age_of_consent", "new_identifiers_per_hour", "new_identifiers_warning_per_hour", "requests_per_second")
    AGE_OF_CONSENT_FIELD_NUMBER: _ClassVar[int]
    NEW_IDENTIFIERS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    NEW_IDENTIFIERS_WARNING_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    age_of_consent: int
    new_identifiers_per_hour: int
    new_identifiers_warning_per_hour: int
    requests_per_second: int
    def __init__(self, age_of_consent: _Optional[int] = ..., new_identifiers_per_hour: _Optional[int] = ..., new_identifiers_warning_per_hour: _Optional[int] = ..., requests_per_second: _Optional[int] = ...) -> None: ...

class TenantSettings(_message.Message):
    __slots__ = ("age_of_consent", "new_identifiers_per_hour", "new_identifiers_warning_per_hour", "requests_per_second")
    AGE_OF_CONSENT_FIELD_NUMBER: _ClassVar[int]
    NEW_IDENTIFIERS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    NEW_IDENTIFIERS_WARNING_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    age_of_consent: int
    new_identifiers_per_hour: int
    new_identifiers_warning_per_hour: int
    requests_per_second: int
    def __init__(self, age_of_consent: _Optional[int] = ..., new_identifiers_per_hour: _Optional[int] = ..., new_identifiers_warning_per_hour: _Optional[int] = ..., requests_per_second: _Optional[int] = ...) -> None: ...

class DefinePurposeResponse(_message.Message):
    __slots__ = ("purpose", "created", "pending_operation_id", "approve_before_unix_ms", "changes")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    created: bool
    pending_operation_id: int
    approve_before_unix_ms: int
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.AuditChange]
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ..., created: _Optional[bool] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.AuditChange, _Mapping]]] = ...) -> None: ...

class ListPurposesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPurposesResponse(_message.Message):
    __slots__ = ("purposes",)
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[Purpose]
    def __init__(self, purposes: _Optional[_Iterable[_Union[Purpose, _Mapping]]] = ...) -> None: ...

class Principal(_message.Message):
    __slots__ = ("id", "name", "roles", "purposes", "revoked", "created_unix_ms", "client_cert_sha256", "created_by", "enrolled_unix_ms", "enrolment_expires_unix_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CERT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ENROLMENT_EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.Role]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    revoked: bool
    created_unix_ms: int
    client_cert_sha256: str
    created_by: str
    enrolled_unix_ms: int
    enrolment_expires_unix_ms: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.Role, str]]] = ..., purposes: _Optional[_Iterable[str]] = ..., revoked: _Optional[bool] = ..., created_unix_ms: _Optional[int] = ..., client_cert_sha256: _Optional[str] = ..., created_by: _Optional[str] = ..., enrolled_unix_ms: _Optional[int] = ..., enrolment_expires_unix_ms: _Optional[int] = ...) -> None: ...

class CreatePrincipalRequest(_message.Message):
    __slots__ = ("name", "roles", "purposes", "enrol")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    ENROL_FIELD_NUMBER: _ClassVar[int]
    name: str
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.Role]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    enrol: bool
    def __init__(self, name: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.Role, str]]] = ..., purposes: _Optional[_Iterable[str]] = ..., enrol: _Optional[bool] = ...) -> None: ...

class CreatePrincipalResponse(_message.Message):
    __slots__ = ("principal", "token", "enrolment", "pending_operation_id", "approve_before_unix_ms")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ENROLMENT_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    token: str
    enrolment: Enrolment
    pending_operation_id: int
    approve_before_unix_ms: int
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., token: _Optional[str] = ..., enrolment: _Optional[_Union[Enrolment, _Mapping]] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ...) -> None: ...

class ClaimEnrolmentRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ClaimEnrolmentResponse(_message.Message):
    __slots__ = ("principal", "token")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    token: str
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class BindClientCertificateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BindClientCertificateResponse(_message.Message):
    __slots__ = ("principal",)
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class RevokePrincipalRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokePrincipalResponse(_message.Message):
    __slots__ = ("principal",)
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class ListPrincipalsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPrincipalsResponse(_message.Message):
    __slots__ = ("principals",)
    PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    principals: _containers.RepeatedCompositeFieldContainer[Principal]
    def __init__(self, principals: _Optional[_Iterable[_Union[Principal, _Mapping]]] = ...) -> None: ...

class RecordField(_message.Message):
    __slots__ = ("pointer", "domain", "required")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    domain: str
    required: bool
    def __init__(self, pointer: _Optional[str] = ..., domain: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class RecordPolicy(_message.Message):
    __slots__ = ("name", "fields", "drop", "updated_unix_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DROP_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[RecordField]
    drop: _containers.RepeatedScalarFieldContainer[str]
    updated_unix_ms: int
    def __init__(self, name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[RecordField, _Mapping]]] = ..., drop: _Optional[_Iterable[str]] = ..., updated_unix_ms: _Optional[int] = ...) -> None: ...

class DefineRecordPolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RecordPolicy
    def __init__(self, policy: _Optional[_Union[RecordPolicy, _Mapping]] = ...) -> None: ...

class DefineRecordPolicyResponse(_message.Message):
    __slots__ = ("policy", "created", "pending_operation_id", "approve_before_unix_ms", "changes")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    policy: RecordPolicy
    created: bool
    pending_operation_id: int
    approve_before_unix_ms: int
    changes: _containers.RepeatedCompositeFieldContainer[_common_pb2.AuditChange]
    def __init__(self, policy: _Optional[_Union[RecordPolicy, _Mapping]] = ..., created: _Optional[bool] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[_common_pb2.AuditChange, _Mapping]]] = ...) -> None: ...

class ListRecordPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRecordPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[RecordPolicy]
    def __init__(self, policies: _Optional[_Iterable[_Union[RecordPolicy, _Mapping]]] = ...) -> None: ...

class DeleteRecordPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRecordPolicyResponse(_message.Message):
    __slots__ = ("deleted", "pending_operation_id", "approve_before_unix_ms")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    pending_operation_id: int
    approve_before_unix_ms: int
    def __init__(self, deleted: _Optional[bool] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ...) -> None: ...

class SharingAgreement(_message.Message):
    __slots__ = ("name", "from_domain", "to_domain", "purpose", "recipient", "legal_basis", "valid_until_unix_ms", "created_unix_ms", "created_by", "approved_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TO_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_domain: str
    to_domain: str
    purpose: str
    recipient: str
    legal_basis: str
    valid_until_unix_ms: int
    created_unix_ms: int
    created_by: str
    approved_by: str
    def __init__(self, name: _Optional[str] = ..., from_domain: _Optional[str] = ..., to_domain: _Optional[str] = ..., purpose: _Optional[str] = ..., recipient: _Optional[str] = ..., legal_basis: _Optional[str] = ..., valid_until_unix_ms: _Optional[int] = ..., created_unix_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., approved_by: _Optional[str] = ...) -> None: ...

class DefineSharingAgreementRequest(_message.Message):
    __slots__ = ("agreement",)
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    agreement: SharingAgreement
    def __init__(self, agreement: _Optional[_Union[SharingAgreement, _Mapping]] = ...) -> None: ...

class DefineSharingAgreementResponse(_message.Message):
    __slots__ = ("agreement", "pending_operation_id", "approve_before_unix_ms")
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    PENDING_OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_BEFORE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    agreement: SharingAgreement
    pending_operation_id: int
    approve_before_unix_ms: int
    def __init__(self, agreement: _Optional[_Union[SharingAgreement, _Mapping]] = ..., pending_operation_id: _Optional[int] = ..., approve_before_unix_ms: _Optional[int] = ...) -> None: ...

class ListSharingAgreementsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSharingAgreementsResponse(_message.Message):
    __slots__ = ("agreements",)
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    agreements: _containers.RepeatedCompositeFieldContainer[SharingAgreement]
    def __init__(self, agreements: _Optional[_Iterable[_Union[SharingAgreement, _Mapping]]] = ...) -> None: ...

class RevokeSharingAgreementRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeSharingAgreementResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRecordOfProcessingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RecordOfProcessing(_message.Message):
    __slots__ = ("tenant", "generated_unix_ms", "purposes", "domains", "record_policies", "keys", "measures", "settings", "principals", "audit", "sharing_agreements")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    GENERATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    RECORD_POLICIES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    SHARING_AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    tenant: Tenant
    generated_unix_ms: int
    purposes: _containers.RepeatedCompositeFieldContainer[ProcessingPurpose]
    domains: _containers.RepeatedCompositeFieldContainer[ProcessingDomain]
    record_policies: _containers.RepeatedCompositeFieldContainer[RecordPolicy]
    keys: ProcessingKeys
    measures: _containers.RepeatedCompositeFieldContainer[ProcessingMeasure]
    settings: TenantSettings
    principals: _containers.RepeatedCompositeFieldContainer[RoleCount]
    audit: ProcessingAudit
    sharing_agreements: _containers.RepeatedCompositeFieldContainer[SharingAgreement]
    def __init__(self, tenant: _Optional[_Union[Tenant, _Mapping]] = ..., generated_unix_ms: _Optional[int] = ..., purposes: _Optional[_Iterable[_Union[ProcessingPurpose, _Mapping]]] = ..., domains: _Optional[_Iterable[_Union[ProcessingDomain, _Mapping]]] = ..., record_policies: _Optional[_Iterable[_Union[RecordPolicy, _Mapping]]] = ..., keys: _Optional[_Union[ProcessingKeys, _Mapping]] = ..., measures: _Optional[_Iterable[_Union[ProcessingMeasure, _Mapping]]] = ..., settings: _Optional[_Union[TenantSettings, _Mapping]] = ..., principals: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ..., audit: _Optional[_Union[ProcessingAudit, _Mapping]] = ..., sharing_agreements: _Optional[_Iterable[_Union[SharingAgreement, _Mapping]]] = ...) -> None: ...

class ProcessingPurpose(_message.Message):
    __slots__ = ("purpose", "current_text", "consents_granted", "consents_withdrawn", "consents_expired", "reidentifiers")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TEXT_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_GRANTED_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    REIDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    current_text: ConsentText
    consents_granted: int
    consents_withdrawn: int
    consents_expired: int
    reidentifiers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, purpose: _Optional[_Union[Purpose, _Mapping]] = ..., current_text: _Optional[_Union[ConsentText, _Mapping]] = ..., consents_granted: _Optional[int] = ..., consents_withdrawn: _Optional[int] = ..., consents_expired: _Optional[int] = ..., reidentifiers: _Optional[_Iterable[str]] = ...) -> None: ...

class ProcessingDomain(_message.Message):
    __slots__ = ("domain", "mappings", "purposes")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    mappings: int
    purposes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ..., mappings: _Optional[int] = ..., purposes: _Optional[_Iterable[str]] = ...) -> None: ...

class ProcessingKeys(_message.Message):
    __slots__ = ("root_provider", "root_fit_for_production", "unseal_threshold", "unseal_shares", "tenant_key_versions")
    ROOT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIT_FOR_PRODUCTION_FIELD_NUMBER: _ClassVar[int]
    UNSEAL_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    UNSEAL_SHARES_FIELD_NUMBER: _ClassVar[int]
    TENANT_KEY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    root_provider: str
    root_fit_for_production: bool
    unseal_threshold: int
    unseal_shares: int
    tenant_key_versions: _containers.RepeatedCompositeFieldContainer[_keys_pb2.KeyVersionInfo]
    def __init__(self, root_provider: _Optional[str] = ..., root_fit_for_production: _Optional[bool] = ..., unseal_threshold: _Optional[int] = ..., unseal_shares: _Optional[int] = ..., tenant_key_versions: _Optional[_Iterable[_Union[_keys_pb2.KeyVersionInfo, _Mapping]]] = ...) -> None: ...

class ProcessingMeasure(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RoleCount(_message.Message):
    __slots__ = ("role", "principals")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    role: _common_pb2.Role
    principals: int
    def __init__(self, role: _Optional[_Union[_common_pb2.Role, str]] = ..., principals: _Optional[int] = ...) -> None: ...

class ProcessingAudit(_message.Message):
    __slots__ = ("entries", "checkpoints", "last_checkpoint_unix_ms")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    entries: int
    checkpoints: int
    last_checkpoint_unix_ms: int
    def __init__(self, entries: _Optional[int] = ..., checkpoints: _Optional[int] = ..., last_checkpoint_unix_ms: _Optional[int] = ...) -> None: ...
