"""Starts a real vault for the tests: the `valv` binary from VALV_BIN, or built with cargo from
this repository, on a loopback port with its development TLS, in a temporary data directory.
Sets up one tenant with domains, a purpose, principals and a record policy through the Python
client itself."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import time
from dataclasses import dataclass

import pytest

from valv import Client
from valv.v1 import admin_pb2, common_pb2

REPO = pathlib.Path(__file__).resolve().parents[3]


def _valv_binary() -> str:
    if os.environ.get("VALV_BIN"):
        return os.environ["VALV_BIN"]
    subprocess.run(["cargo", "build", "--quiet", "-p", "valv", "--bin", "valv"], cwd=REPO, check=True)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return str(pathlib.Path(json.loads(meta.stdout)["target_directory"]) / "debug" / "valv")


@dataclass
class Vault:
    addr: str
    ca_pem: bytes
    operator_token: str
    log: pathlib.Path

    def client(self, token: str, **kwargs) -> Client:
        return Client(self.addr, token=token, ca_pem=self.ca_pem, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Tenant:
    admin: str
    tokenizer: str
    reidentifier: str
    consent_manager: str
    subject_officer: str
    translator: str


@pytest.fixture(scope="session")
def vault(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("valv")
    data, log = tmp / "data", tmp / "server.log"
    env = {**os.environ, "RUST_LOG": "trace"}
    env.pop("VALV_LISTEN", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [_valv_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL, env=env,
        )
    try:
        deadline = time.time() + 60
        addr = None
        while addr is None:
            m = re.search(r"valv is serving.*?addr=(\S+)", log.read_text(errors="replace"))
            if m:
                addr = m.group(1)
            elif time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("valv did not start:\n" + log.read_text(errors="replace"))
            else:
                time.sleep(0.05)
        yield Vault(
            addr=f"https://{addr}",
            ca_pem=(data / "tls" / "ca.pem").read_bytes(),
            operator_token=(data / "operator.token").read_text().strip(),
            log=log,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def tenant(vault) -> Tenant:
    with vault.client(vault.operator_token) as op:
        created = op.call(op.admin.CreateTenant, admin_pb2.CreateTenantRequest(name="pyclinic"))
        claimed = op.call(
            op.admin.ClaimEnrolment, admin_pb2.ClaimEnrolmentRequest(code=created.admins[0].code)
        )
    admin_token = claimed.token
    admin = vault.client(admin_token)
    for name, kind, reversible in [
        ("patients", common_pb2.IDENTIFIER_KIND_SE_PERSONNUMMER, True),
        ("emails", common_pb2.IDENTIFIER_KIND_EMAIL, True),
        ("registry", common_pb2.IDENTIFIER_KIND_SE_PERSONNUMMER, False),
    ]:
        admin.call(
            admin.admin.CreateDomain,
            admin_pb2.CreateDomainRequest(name=name, kind=kind, scheme=common_pb2.SCHEME_KEYED, reversible=reversible),
        )
    admin.call(admin.admin.DefinePurpose, admin_pb2.DefinePurposeRequest(name="care", legal_basis=common_pb2.LEGAL_BASIS_PUBLIC_TASK))
    admin.call(admin.admin.DefinePurpose, admin_pb2.DefinePurposeRequest(name="research", legal_basis=common_pb2.LEGAL_BASIS_CONSENT))
    admin.call(admin.admin.AddConsentText, admin_pb2.AddConsentTextRequest(purpose="research", text="I agree to research use."))
    admin.call(
        admin.admin.DefineRecordPolicy,
        admin_pb2.DefineRecordPolicyRequest(
            policy=admin_pb2.RecordPolicy(
                name="visits",
                fields=[
                    admin_pb2.RecordField(pointer="/patient/ssn", domain="patients", required=True),
                    admin_pb2.RecordField(pointer="/emails/*", domain="emails"),
                ],
                drop=["/note"],
            )
        ),
    )

    admin.call(
        admin.admin.DefineSharingAgreement,
        admin_pb2.DefineSharingAgreementRequest(
            agreement=admin_pb2.SharingAgreement(
                name="registry",
                from_domain="patients",
                to_domain="registry",
                purpose="care",
                recipient="Quality registry",
                legal_basis="Art. 9(2)(h)",
                valid_until_unix_ms=int(time.time() * 1000) + 86_400_000,
            )
        ),
    )

    def principal(name: str, role: int, purposes=()) -> str:
        r = admin.call(
            admin.admin.CreatePrincipal,
            admin_pb2.CreatePrincipalRequest(name=name, roles=[role], purposes=list(purposes)),
        )
        return r.token

    t = Tenant(
        admin=admin_token,
        tokenizer=principal("py-tok", common_pb2.ROLE_TOKENIZER),
        reidentifier=principal("py-reid", common_pb2.ROLE_REIDENTIFIER, ["care", "research"]),
        consent_manager=principal("py-consent", common_pb2.ROLE_CONSENT_MANAGER),
        subject_officer=principal("py-subject", common_pb2.ROLE_SUBJECT_OFFICER),
        translator=principal("py-translator", common_pb2.ROLE_TRANSLATOR, ["care"]),
    )
    admin.close()
    return t
