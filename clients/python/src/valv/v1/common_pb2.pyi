from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class IdentifierKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTIFIER_KIND_UNSPECIFIED: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_OPAQUE: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_EMAIL: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_PHONE: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_SE_PERSONNUMMER: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_NO_FODSELSNUMMER: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_DK_CPR: _ClassVar[IdentifierKind]
    IDENTIFIER_KIND_FI_HETU: _ClassVar[IdentifierKind]

class Scheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEME_UNSPECIFIED: _ClassVar[Scheme]
    SCHEME_KEYED: _ClassVar[Scheme]
    SCHEME_RANDOM: _ClassVar[Scheme]
    SCHEME_FORMAT_PRESERVING: _ClassVar[Scheme]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_TENANT_ADMIN: _ClassVar[Role]
    ROLE_TOKENIZER: _ClassVar[Role]
    ROLE_REIDENTIFIER: _ClassVar[Role]
    ROLE_CONSENT_MANAGER: _ClassVar[Role]
    ROLE_SUBJECT_OFFICER: _ClassVar[Role]
    ROLE_KEY_OFFICER: _ClassVar[Role]
    ROLE_AUDITOR: _ClassVar[Role]
    ROLE_TRANSLATOR: _ClassVar[Role]

class LegalBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEGAL_BASIS_UNSPECIFIED: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONSENT: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONTRACT: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGAL_OBLIGATION: _ClassVar[LegalBasis]
    LEGAL_BASIS_VITAL_INTERESTS: _ClassVar[LegalBasis]
    LEGAL_BASIS_PUBLIC_TASK: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGITIMATE_INTERESTS: _ClassVar[LegalBasis]
IDENTIFIER_KIND_UNSPECIFIED: IdentifierKind
IDENTIFIER_KIND_OPAQUE: IdentifierKind
IDENTIFIER_KIND_EMAIL: IdentifierKind
IDENTIFIER_KIND_PHONE: IdentifierKind
IDENTIFIER_KIND_SE_PERSONNUMMER: IdentifierKind
IDENTIFIER_KIND_NO_FODSELSNUMMER: IdentifierKind
IDENTIFIER_KIND_DK_CPR: IdentifierKind
IDENTIFIER_KIND_FI_HETU: IdentifierKind
SCHEME_UNSPECIFIED: Scheme
SCHEME_KEYED: Scheme
SCHEME_RANDOM: Scheme
SCHEME_FORMAT_PRESERVING: Scheme
ROLE_UNSPECIFIED: Role
ROLE_OPERATOR: Role
ROLE_TENANT_ADMIN: Role
ROLE_TOKENIZER: Role
ROLE_REIDENTIFIER: Role
ROLE_CONSENT_MANAGER: Role
ROLE_SUBJECT_OFFICER: Role
ROLE_KEY_OFFICER: Role
ROLE_AUDITOR: Role
ROLE_TRANSLATOR: Role
LEGAL_BASIS_UNSPECIFIED: LegalBasis
LEGAL_BASIS_CONSENT: LegalBasis
LEGAL_BASIS_CONTRACT: LegalBasis
LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis
LEGAL_BASIS_VITAL_INTERESTS: LegalBasis
LEGAL_BASIS_PUBLIC_TASK: LegalBasis
LEGAL_BASIS_LEGITIMATE_INTERESTS: LegalBasis

class ItemError(_message.Message):
    __slots__ = ("field", "rule")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    field: str
    rule: str
    def __init__(self, field: _Optional[str] = ..., rule: _Optional[str] = ...) -> None: ...

class AuditChange(_message.Message):
    __slots__ = ("field", "before", "after")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    field: str
    before: str
    after: str
    def __init__(self, field: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...
