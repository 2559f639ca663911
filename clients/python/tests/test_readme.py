"""The "Use from Python" example of docs/clients.md, run as written against the live vault."""

from __future__ import annotations

import pathlib
import re

from valv.v1 import admin_pb2, common_pb2

README = pathlib.Path(__file__).resolve().parents[3] / "docs" / "clients.md"


def test_readme_python_example_runs(vault, monkeypatch, capsys, tmp_path):
    section = README.read_text().split("\n## Use from Python\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)

    with vault.client(vault.operator_token) as op:
        created = op.call(op.admin.CreateTenant, admin_pb2.CreateTenantRequest(name="readme-py"))
        # The tenant's administrator claims the enrolment code and gets a token of their own.
        claimed = op.call(
            op.admin.ClaimEnrolment, admin_pb2.ClaimEnrolmentRequest(code=created.admins[0].code)
        )
    with vault.client(claimed.token) as admin:
        admin.call(
            admin.admin.CreateDomain,
            admin_pb2.CreateDomainRequest(
                name="patients.research",
                kind=common_pb2.IDENTIFIER_KIND_SE_PERSONNUMMER,
                scheme=common_pb2.SCHEME_KEYED,
                reversible=True,
            ),
        )
        admin.call(
            admin.admin.DefineRecordPolicy,
            admin_pb2.DefineRecordPolicyRequest(
                policy=admin_pb2.RecordPolicy(
                    name="visits",
                    fields=[admin_pb2.RecordField(pointer="/patient/ssn", domain="patients.research")],
                    drop=["/note"],
                )
            ),
        )
        token = admin.call(
            admin.admin.CreatePrincipal,
            admin_pb2.CreatePrincipalRequest(name="ingest", roles=[common_pb2.ROLE_TOKENIZER]),
        ).token
        ca = tmp_path / "ca.pem"
        ca.write_bytes(vault.ca_pem)
        monkeypatch.setenv("VALV_ADDR", vault.addr)
        monkeypatch.setenv("VALV_CA", str(ca))
        monkeypatch.setenv("VALV_TOKEN", token)
        monkeypatch.delenv("VALV_TOKEN_FILE", raising=False)
        scope: dict = {}
        exec(compile(code, "docs/clients.md (Use from Python)", "exec"), scope)

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("pseudonym: ") and len(printed[0]) == len("pseudonym: ") + 26
    assert printed[1] == "refused: identifiers[1] se-personnummer: check digit"
    assert printed[2].startswith("{'patient': {'ssn': '") and "note" not in printed[2]
    frame = scope["frame"]
    assert list(frame["amount"]) == [120.0, 80.5]
    assert all(len(p) == 26 for p in frame["ssn"])
