"""The typed client: one gRPC channel (TLS, or plaintext on loopback) that sends the bearer
token with every call, methods for the everyday calls that split large inputs within the
server's limits and retry when the vault is unavailable, and the generated stubs of every
service for everything else."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar, Union

import grpc

from .errors import ValvError, from_rpc_error
from .v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    keys_pb2_grpc,
    pseudonym_pb2,
    pseudonym_pb2_grpc,
    retention_pb2_grpc,
    seal_pb2_grpc,
    subject_pb2,
    subject_pb2_grpc,
)

DEFAULT_ADDR = "https://127.0.0.1:7443"
_MAX_MESSAGE = 256 * 1024 * 1024
_OVERHEAD = 4096
T = TypeVar("T")

_VERDICTS = {
    pseudonym_pb2.VERDICT_RELEASED: "released",
    pseudonym_pb2.VERDICT_NO_CONSENT: "no-consent",
    pseudonym_pb2.VERDICT_CONSENT_WITHDRAWN: "consent-withdrawn",
    pseudonym_pb2.VERDICT_CONSENT_EXPIRED: "consent-expired",
    pseudonym_pb2.VERDICT_NOT_FOUND: "not-found",
    pseudonym_pb2.VERDICT_DENIED: "denied",
    pseudonym_pb2.VERDICT_KEY_DESTROYED: "key-destroyed",
    pseudonym_pb2.VERDICT_RESTRICTED: "restricted",
}

_METHODS = {
    "bankid": consent_pb2.CONSENT_METHOD_BANKID,
    "sms-otp": consent_pb2.CONSENT_METHOD_SMS_OTP,
    "signature": consent_pb2.CONSENT_METHOD_SIGNATURE,
    "oral": consent_pb2.CONSENT_METHOD_ORAL,
    "paper": consent_pb2.CONSENT_METHOD_PAPER,
    "web": consent_pb2.CONSENT_METHOD_WEB,
}


@dataclass(frozen=True)
class ItemError:
    """Why one item was refused: the request field (index in *your* input) and the rule."""

    field: str
    rule: str


@dataclass(frozen=True)
class Translated:
    """One pseudonym's verdict under a sharing agreement; `pseudonym` (the recipient's) is set
    only when `verdict == "released"` (translated)."""

    verdict: str
    pseudonym: Optional[str] = None
    old_epoch: bool = False

    @property
    def translated(self) -> bool:
        """True when the pseudonym was translated."""
        return self.verdict == "released"


@dataclass(frozen=True)
class ReIdentified:
    """One pseudonym's verdict; `identifier` is set only when `verdict == "released"`."""

    verdict: str
    identifier: Optional[str] = None
    old_epoch: bool = False

    @property
    def released(self) -> bool:
        """True when the identifier was released."""
        return self.verdict == "released"


@dataclass(frozen=True)
class FieldVerdict:
    """The verdict for one field of a record, by its JSON pointer."""

    pointer: str
    verdict: str
    old_epoch: bool = False


@dataclass(frozen=True)
class RecordResult:
    """One record after `pseudonymise_records`: the record (JSON bytes) or its errors."""

    record: Optional[bytes]
    errors: list[ItemError] = field(default_factory=list)

    def json(self) -> Any:
        """The record parsed, or `None` when it was refused."""
        return None if self.record is None else json.loads(self.record)


@dataclass(frozen=True)
class ReIdentifiedRecord:
    """One record after `reidentify_records`: released fields restored, a verdict per field."""

    record: Optional[bytes]
    fields: list[FieldVerdict] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)

    def json(self) -> Any:
        """The record parsed, or `None` when it could not be read."""
        return None if self.record is None else json.loads(self.record)


Record = Union[bytes, str, dict, list]


def _record_bytes(r: Record) -> bytes:
    if isinstance(r, bytes):
        return r
    if isinstance(r, str):
        return r.encode()
    return json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode()


def _read(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def _subject(domain: str, identifier: Optional[str], pseudonym: Optional[str]) -> consent_pb2.SubjectRef:
    if (identifier is None) == (pseudonym is None):
        raise ValueError("name the subject by exactly one of identifier= or pseudonym=")
    if identifier is not None:
        return consent_pb2.SubjectRef(domain=domain, identifier=identifier)
    return consent_pb2.SubjectRef(domain=domain, pseudonym=pseudonym)


class Client:
    """A connection to a Valv vault.

    Args:
        addr: ``https://host:port``, or ``http://127.0.0.1:port`` for a plaintext vault on
            loopback.
        token: the principal's bearer token (sent with every call).
        ca_pem: the CA certificate (PEM) to trust; required for ``https://``.
        client_cert, client_key: PEM for mTLS, when the vault binds principals to certificates.
        server_name: the name in the server's certificate, if it differs from the host.
        retries: how many times a call failing with UNAVAILABLE is tried again (with backoff).
        timeout: seconds per call.
        max_batch: most items per request (default: the server's limit).

    Every failed call raises :class:`valv.ValvError` (or a subclass per status code).
    """

    def __init__(
        self,
        addr: str = DEFAULT_ADDR,
        *,
        token: Optional[str] = None,
        ca_pem: Optional[bytes] = None,
        client_cert: Optional[bytes] = None,
        client_key: Optional[bytes] = None,
        server_name: Optional[str] = None,
        retries: int = 5,
        timeout: float = 60.0,
        max_batch: Optional[int] = None,
    ) -> None:
        options: list[tuple[str, Union[int, str]]] = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if addr.startswith("https://"):
            if ca_pem is None:
                raise ValueError("TLS needs a CA: pass ca_pem= or set VALV_CA")
            channel_creds = grpc.ssl_channel_credentials(
                root_certificates=ca_pem, private_key=client_key, certificate_chain=client_cert
            )
            target = addr[len("https://"):]
        elif addr.startswith("http://"):
            # Plaintext only to a loopback vault; the token may still be sent there.
            channel_creds = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
            target = addr[len("http://"):]
        else:
            raise ValueError("addr must start with https:// (or http:// for loopback)")
        if token:
            channel_creds = grpc.composite_channel_credentials(
                channel_creds, grpc.access_token_call_credentials(token)
            )
        self._channel = grpc.secure_channel(target, channel_creds, options=options)
        self._retries = max(0, retries)
        self._timeout = timeout
        self._max_batch = max_batch
        self._limits: Optional[tuple[int, int]] = None
        #: `AdminService` stub (tenants, domains, purposes, principals, record policies).
        self.admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        #: `PseudonymService` stub.
        self.pseudonyms = pseudonym_pb2_grpc.PseudonymServiceStub(self._channel)
        #: `ConsentService` stub.
        self.consents = consent_pb2_grpc.ConsentServiceStub(self._channel)
        #: `SubjectService` stub.
        self.subjects = subject_pb2_grpc.SubjectServiceStub(self._channel)
        #: `AuditService` stub.
        self.audit = audit_pb2_grpc.AuditServiceStub(self._channel)
        #: `KeyService` stub.
        self.keys = keys_pb2_grpc.KeyServiceStub(self._channel)
        #: `RetentionService` stub.
        self.retention = retention_pb2_grpc.RetentionServiceStub(self._channel)
        #: `SealService` stub.
        self.seal = seal_pb2_grpc.SealServiceStub(self._channel)

    @classmethod
    def from_env(cls, **overrides: Any) -> "Client":
        """A client from ``VALV_ADDR``, ``VALV_TOKEN`` or ``VALV_TOKEN_FILE``, ``VALV_CA``, and
        ``VALV_CLIENT_CERT`` with ``VALV_CLIENT_KEY`` (file paths); keyword arguments win."""
        token = os.environ.get("VALV_TOKEN")
        if not token and os.environ.get("VALV_TOKEN_FILE"):
            with open(os.environ["VALV_TOKEN_FILE"], encoding="utf-8") as f:
                token = f.readline().strip()
        kwargs: dict[str, Any] = {
            "addr": os.environ.get("VALV_ADDR") or DEFAULT_ADDR,
            "token": token or None,
            "ca_pem": _read(os.environ.get("VALV_CA")),
            "client_cert": _read(os.environ.get("VALV_CLIENT_CERT")),
            "client_key": _read(os.environ.get("VALV_CLIENT_KEY")),
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calling ----------------------------------------------------------------------------

    def call(self, method: Callable[..., T], request: Any) -> T:
        """Calls a stub method (e.g. ``client.call(client.admin.ListDomains,
        admin_pb2.ListDomainsRequest())``) with this client's timeout and retries, raising
        :class:`ValvError` on failure."""
        attempt = 0
        while True:
            try:
                return method(request, timeout=self._timeout)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self._retries:
                    attempt += 1
                    wait = min(5.0, 0.1 * 2 ** (attempt - 1))
                    time.sleep(wait * (1 - random.random() / 2))
                    continue
                raise from_rpc_error(e) from None

    def limits(self) -> dict[str, int]:
        """The server's limits: ``max_batch``, ``max_message_bytes``, ``max_identifier_bytes``."""
        r = self.call(self.pseudonyms.GetLimits, pseudonym_pb2.GetLimitsRequest())
        return {
            "max_batch": r.max_batch,
            "max_message_bytes": r.max_message_bytes,
            "max_identifier_bytes": r.max_identifier_bytes,
        }

    def _chunks(self, sizes: Sequence[int]) -> list[range]:
        if self._limits is None:
            limits = self.limits()
            items = limits["max_batch"]
            if self._max_batch:
                items = min(items, self._max_batch)
            self._limits = (max(1, items), limits["max_message_bytes"])
        max_items, max_bytes = self._limits
        budget = max(1, max_bytes - _OVERHEAD)
        out, start, used = [], 0, 0
        for i, size in enumerate(sizes):
            cost = size + 6
            if i > start and (i - start == max_items or used + cost > budget):
                out.append(range(start, i))
                start, used = i, 0
            used += cost
        if len(sizes) > start:
            out.append(range(start, len(sizes)))
        return out

    # -- pseudonyms -------------------------------------------------------------------------

    def pseudonymise(self, domain: str, identifiers: Iterable[str]) -> list[Union[str, ItemError]]:
        """Pseudonyms for `identifiers` of `domain`, in order: a ``str`` per accepted item, an
        :class:`ItemError` per refused one (its field is ``identifiers[i]`` of your input).
        Any number of identifiers; they are sent in batches within the server's limits."""
        items = list(identifiers)
        out: list[Union[str, ItemError]] = []
        for part in self._chunks([len(s.encode()) for s in items]):
            r = self.call(
                self.pseudonyms.Pseudonymise,
                pseudonym_pb2.PseudonymiseRequest(domain=domain, identifiers=items[part.start:part.stop]),
            )
            for i, res in zip(part, r.results):
                if res.WhichOneof("outcome") == "pseudonym":
                    out.append(res.pseudonym)
                else:
                    out.append(ItemError(field=f"identifiers[{i}]", rule=res.error.rule))
        return out

    def check_identifiers(self, domain: str, identifiers: Iterable[str]) -> list[ItemError]:
        """The identifiers of `domain` that break its rules, as :class:`ItemError` naming the
        index in your input; nothing is stored. Useful to refuse a whole row before any of its
        identifiers gets a mapping."""
        items = list(identifiers)
        out: list[ItemError] = []
        for part in self._chunks([len(s.encode()) for s in items]):
            r = self.call(
                self.pseudonyms.CheckIdentifiers,
                pseudonym_pb2.CheckIdentifiersRequest(domain=domain, identifiers=items[part.start:part.stop]),
            )
            for e in r.errors:
                local = int(e.field[len("identifiers["):-1])
                out.append(ItemError(field=f"identifiers[{part.start + local}]", rule=e.rule))
        return out

    def reidentify(self, domain: str, purpose: str, pseudonyms: Iterable[str]) -> list[ReIdentified]:
        """Verdicts (and identifiers, where released) for `pseudonyms` of `domain`, needed for
        `purpose`, in order. Every verdict is audited by the vault."""
        items = list(pseudonyms)
        out: list[ReIdentified] = []
        for part in self._chunks([len(s.encode()) for s in items]):
            r = self.call(
                self.pseudonyms.ReIdentify,
                pseudonym_pb2.ReIdentifyRequest(
                    domain=domain, purpose=purpose, pseudonyms=items[part.start:part.stop]
                ),
            )
            for res in r.results:
                verdict = _VERDICTS.get(res.verdict, "unspecified")
                out.append(
                    ReIdentified(
                        verdict=verdict,
                        identifier=res.identifier if verdict == "released" else None,
                        old_epoch=res.old_epoch,
                    )
                )
        return out

    def translate(self, agreement: str, pseudonyms: Iterable[str]) -> list[Translated]:
        """The recipient's pseudonyms for `pseudonyms` of the sharing agreement's from-domain, in
        order, with a verdict each (decided like a re-identification for the agreement's
        purpose). No identifier leaves the vault; every call is audited."""
        items = list(pseudonyms)
        out: list[Translated] = []
        for part in self._chunks([len(s.encode()) for s in items]):
            r = self.call(
                self.pseudonyms.TranslatePseudonyms,
                pseudonym_pb2.TranslatePseudonymsRequest(
                    agreement=agreement, pseudonyms=items[part.start:part.stop]
                ),
            )
            for res in r.results:
                verdict = _VERDICTS.get(res.verdict, "unspecified")
                out.append(
                    Translated(
                        verdict=verdict,
                        pseudonym=res.pseudonym if verdict == "released" else None,
                        old_epoch=res.old_epoch,
                    )
                )
        return out

    # -- records ----------------------------------------------------------------------------

    @staticmethod
    def _errors(error: Any, local: int, index: int) -> list[ItemError]:
        prefix = f"records[{local}]"
        return [
            ItemError(
                field=f"records[{index}]{e.field[len(prefix):]}" if e.field.startswith(prefix) else e.field,
                rule=e.rule,
            )
            for e in error.errors
        ]

    def pseudonymise_records(self, policy: str, records: Iterable[Record]) -> list[RecordResult]:
        """Pseudonymises JSON records (bytes, str, or dict/list, which are serialised) under the
        stored record policy `policy`; one :class:`RecordResult` per record, in order."""
        items = [_record_bytes(r) for r in records]
        out: list[RecordResult] = []
        for part in self._chunks([len(b) for b in items]):
            r = self.call(
                self.pseudonyms.PseudonymiseRecords,
                pseudonym_pb2.PseudonymiseRecordsRequest(policy=policy, records=items[part.start:part.stop]),
            )
            for local, (i, res) in enumerate(zip(part, r.results)):
                if res.WhichOneof("outcome") == "record":
                    out.append(RecordResult(record=res.record))
                else:
                    out.append(RecordResult(record=None, errors=self._errors(res.error, local, i)))
        return out

    def reidentify_records(self, policy: str, purpose: str, records: Iterable[Record]) -> list[ReIdentifiedRecord]:
        """Restores the fields of pseudonymised JSON records for `purpose` under `policy`; one
        :class:`ReIdentifiedRecord` per record with a verdict per field."""
        items = [_record_bytes(r) for r in records]
        out: list[ReIdentifiedRecord] = []
        for part in self._chunks([len(b) for b in items]):
            r = self.call(
                self.pseudonyms.ReIdentifyRecords,
                pseudonym_pb2.ReIdentifyRecordsRequest(
                    policy=policy, purpose=purpose, records=items[part.start:part.stop]
                ),
            )
            for local, (i, res) in enumerate(zip(part, r.results)):
                fields = [
                    FieldVerdict(f.pointer, _VERDICTS.get(f.verdict, "unspecified"), f.old_epoch)
                    for f in res.fields
                ]
                if res.HasField("error"):
                    out.append(ReIdentifiedRecord(None, fields, self._errors(res.error, local, i)))
                else:
                    out.append(ReIdentifiedRecord(res.record, fields))
        return out

    # -- consents ---------------------------------------------------------------------------

    def grant_consent(
        self,
        domain: str,
        purpose: str,
        *,
        identifier: Optional[str] = None,
        pseudonym: Optional[str] = None,
        method: str = "web",
        text_version: int = 1,
        valid_days: Optional[int] = None,
        channel: str = "",
        evidence: bytes = b"",
        evidence_media_type: str = "",
    ) -> dict[str, Any]:
        """Records a consent of the subject named by `identifier` or `pseudonym` in `domain`.
        Returns ``{"seq", "receipt_id", "receipt"}`` (the signed receipt as a JSON string)."""
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}")
        valid_until = 0
        if valid_days is not None:
            valid_until = int(time.time() * 1000) + valid_days * 86_400_000
        r = self.call(
            self.consents.GrantConsent,
            consent_pb2.GrantConsentRequest(
                subject=_subject(domain, identifier, pseudonym),
                purpose=purpose,
                text_version=text_version,
                method=_METHODS[method],
                valid_until_unix_ms=valid_until,
                channel=channel,
                evidence=evidence,
                evidence_media_type=evidence_media_type,
            ),
        )
        return {"seq": r.event.seq, "receipt_id": r.event.receipt_id, "receipt": r.receipt}

    def withdraw_consent(
        self, domain: str, purpose: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> int:
        """Withdraws a consent (effective for the very next re-identification); returns the
        event's sequence number."""
        r = self.call(
            self.consents.WithdrawConsent,
            consent_pb2.WithdrawConsentRequest(subject=_subject(domain, identifier, pseudonym), purpose=purpose),
        )
        return r.event.seq

    def consent_status(
        self, domain: str, purpose: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> str:
        """The subject's consent status for `purpose`: ``none``, ``granted``, ``withdrawn`` or
        ``expired``."""
        r = self.call(
            self.consents.GetConsentHistory,
            consent_pb2.GetConsentHistoryRequest(subject=_subject(domain, identifier, pseudonym), purpose=purpose),
        )
        for p in r.purposes:
            if p.purpose == purpose:
                return consent_pb2.ConsentStatus.Name(p.status).removeprefix("CONSENT_STATUS_").lower()
        return "none"

    # -- subjects ---------------------------------------------------------------------------

    def export_subject(
        self, domain: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> dict[str, Any]:
        """Everything the vault holds about a subject (GDPR Art. 15), parsed from its JSON."""
        r = self.call(
            self.subjects.ExportSubject,
            subject_pb2.ExportSubjectRequest(subject=_subject(domain, identifier, pseudonym)),
        )
        return json.loads(r.document)

    def erase_subject(
        self, domain: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> dict[str, Any]:
        """Erases a subject (GDPR Art. 17); returns the tombstone's counts."""
        r = self.call(
            self.subjects.EraseSubject,
            subject_pb2.EraseSubjectRequest(subject=_subject(domain, identifier, pseudonym)),
        )
        t = r.tombstone
        return {
            "subject_ref": t.subject_ref,
            "mappings": t.mappings,
            "consent_events": t.consent_events,
            "evidence": t.evidence,
        }

    def restrict_subject(
        self, domain: str, reason: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> str:
        """Restricts processing of a subject (GDPR Art. 18); returns its ``subject_ref``."""
        r = self.call(
            self.subjects.RestrictSubject,
            subject_pb2.RestrictSubjectRequest(subject=_subject(domain, identifier, pseudonym), reason=reason),
        )
        return r.subject_ref

    def lift_restriction(
        self, domain: str, *, identifier: Optional[str] = None, pseudonym: Optional[str] = None
    ) -> bool:
        """Lifts a restriction; False if the subject was not restricted."""
        r = self.call(
            self.subjects.LiftRestriction,
            subject_pb2.LiftRestrictionRequest(subject=_subject(domain, identifier, pseudonym)),
        )
        return r.lifted


__all__ = [
    "Client",
    "DEFAULT_ADDR",
    "FieldVerdict",
    "ItemError",
    "ReIdentified",
    "ReIdentifiedRecord",
    "RecordResult",
    "ValvError",
]
