"""The Python client against a live vault: pseudonyms, verdicts, records, consents, subjects,
errors as exceptions, batching, the DataFrame helper, and no identifier in the server's log."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import valv
from valv import Client, InvalidArgument, ItemError, NotFound, PermissionDenied, Unauthenticated
from valv.dataframe import pseudonymise_column, reidentify_column

SSN = "195209035525"
OTHER = "200311161632"


def test_pseudonymise_and_reidentify_in_order(vault, tenant):
    with vault.client(tenant.tokenizer) as tok:
        out = tok.pseudonymise("patients", ["19520903-5525", "200311161633", OTHER])
    assert isinstance(out[0], str) and len(out[0]) == 26
    assert out[1] == ItemError(field="identifiers[1]", rule="se-personnummer: check digit")
    with vault.client(tenant.reidentifier) as reid:
        back = reid.reidentify("patients", "care", [out[0], out[2], "not-a-pseudonym"])
        assert [(r.verdict, r.identifier) for r in back] == [
            ("released", SSN),
            ("released", OTHER),
            ("not-found", None),
        ]
        # A consent purpose without consent: refused, no identifier.
        assert reid.reidentify("patients", "research", [out[0]])[0].verdict == "no-consent"


def test_translate_gives_the_recipients_pseudonyms(vault, tenant):
    with vault.client(tenant.tokenizer) as tok:
        sender = tok.pseudonymise("patients", [SSN])
        recipients_own = tok.pseudonymise("registry", [SSN])
    with vault.client(tenant.translator) as tr:
        out = tr.translate("registry", [sender[0], "not-a-pseudonym"])
    assert out[0].translated and out[0].pseudonym == recipients_own[0]
    assert out[0].pseudonym != sender[0]
    assert (out[1].verdict, out[1].pseudonym) == ("not-found", None)


def test_large_inputs_are_split_within_the_server_limit(vault, tenant):
    with vault.client(tenant.tokenizer, max_batch=100) as tok:
        emails = [f"person{i}@example.org" for i in range(1234)]
        emails[1100] = "broken"
        out = tok.pseudonymise("emails", emails)
        assert len(out) == 1234
        assert out[1100] == ItemError(field="identifiers[1100]", rule=out[1100].rule)
        assert out[1233] == tok.pseudonymise("emails", [emails[1233]])[0]
        checked = tok.check_identifiers("emails", ["ok@example.org"] * 150 + ["nope"])
        assert checked == [ItemError("identifiers[150]", out[1100].rule)]
        assert tok.limits()["max_batch"] == 10_000


def test_records_under_a_stored_policy(vault, tenant):
    records = [
        {"patient": {"ssn": SSN}, "emails": ["anna@example.org"], "note": "free text", "visit": 1},
        '{"patient":{"ssn":"200311161633"}}',
        b'{"visit": 3}',
    ]
    with vault.client(tenant.tokenizer) as tok:
        out = tok.pseudonymise_records("visits", records)
        p_ssn = tok.pseudonymise("patients", [SSN])[0]
        p_mail = tok.pseudonymise("emails", ["anna@example.org"])[0]
    assert out[0].json() == {"patient": {"ssn": p_ssn}, "emails": [p_mail], "visit": 1}
    assert out[1].record is None
    assert out[1].errors == [ItemError("records[1]/patient/ssn", "se-personnummer: check digit")]
    assert out[2].errors == [ItemError("records[2]/patient/ssn", "required field is missing")]
    with vault.client(tenant.reidentifier) as reid:
        back = reid.reidentify_records("visits", "care", [out[0].record])
    assert back[0].json() == {"patient": {"ssn": SSN}, "emails": ["anna@example.org"], "visit": 1}
    assert [(f.pointer, f.verdict) for f in back[0].fields] == [
        ("/patient/ssn", "released"),
        ("/emails/0", "released"),
    ]


def test_consents_gate_reidentification(vault, tenant):
    with vault.client(tenant.tokenizer) as tok:
        p = tok.pseudonymise("patients", [OTHER])[0]
    consents = vault.client(tenant.consent_manager)
    reid = vault.client(tenant.reidentifier)
    assert reid.reidentify("patients", "research", [p])[0].verdict == "no-consent"
    granted = consents.grant_consent("patients", "research", identifier=OTHER, method="bankid", valid_days=30)
    assert granted["seq"] > 0 and json.loads(granted["receipt"])["receipt_id"] == granted["receipt_id"]
    assert OTHER not in granted["receipt"]
    assert consents.consent_status("patients", "research", pseudonym=p) == "granted"
    assert reid.reidentify("patients", "research", [p])[0].identifier == OTHER
    consents.withdraw_consent("patients", "research", pseudonym=p)
    assert reid.reidentify("patients", "research", [p])[0].verdict == "consent-withdrawn"
    with pytest.raises(ValueError):
        consents.grant_consent("patients", "research", identifier=OTHER, pseudonym=p)
    consents.close()
    reid.close()


def test_subject_rights(vault, tenant):
    subject = "197807241901"
    with vault.client(tenant.tokenizer) as tok:
        p = tok.pseudonymise("patients", [subject])[0]
    officer = vault.client(tenant.subject_officer)
    reid = vault.client(tenant.reidentifier)
    ref = officer.restrict_subject("patients", "disputed accuracy", pseudonym=p)
    assert ref.startswith("subject:")
    assert reid.reidentify("patients", "care", [p])[0].verdict == "restricted"
    assert officer.lift_restriction("patients", pseudonym=p) is True
    exported = officer.export_subject("patients", identifier=subject)
    assert subject not in json.dumps(exported)
    erased = officer.erase_subject("patients", identifier=subject)
    assert erased["mappings"] == 1
    assert reid.reidentify("patients", "care", [p])[0].verdict == "not-found"
    officer.close()
    reid.close()


def test_errors_are_exceptions_with_the_status(vault, tenant):
    with vault.client(tenant.tokenizer) as tok:
        with pytest.raises(NotFound) as e:
            tok.pseudonymise("nope", ["x"])
        assert e.value.code.name == "NOT_FOUND" and e.value.details.startswith("domain")
        with pytest.raises(PermissionDenied):
            tok.reidentify("patients", "care", ["x"])
        with pytest.raises(NotFound):
            tok.pseudonymise_records("no-such-policy", [{}])
    with vault.client(tenant.reidentifier) as reid, pytest.raises(InvalidArgument) as e:
        reid.reidentify_records("visits", "", [{}])
    assert e.value.details.startswith("purpose")
    with vault.client("valv_not-a-token") as bad, pytest.raises(Unauthenticated):
        bad.pseudonymise("patients", [SSN])
    assert issubclass(NotFound, valv.ValvError)
    with pytest.raises(ValueError):
        Client("https://127.0.0.1:1")  # TLS without a CA


def test_dataframe_column_helpers(vault, tenant):
    frame = pd.DataFrame({"ssn": [SSN, None, OTHER, ""], "amount": [1.5, 2.0, 3.25, 4.0]})
    with vault.client(tenant.tokenizer) as tok:
        out = pseudonymise_column(tok, frame, "ssn", "patients", into="ssn_p")
        expected = tok.pseudonymise("patients", [SSN, OTHER])
        assert list(out["ssn_p"]) == [expected[0], None, expected[1], None]
        assert list(out["amount"]) == [1.5, 2.0, 3.25, 4.0]
        assert list(frame.columns) == ["ssn", "amount"], "the input frame is not changed"
        bad = pd.DataFrame({"ssn": [SSN, "200311161633"]})
        with pytest.raises(ValueError) as e:
            pseudonymise_column(tok, bad, "ssn", "patients")
        assert "row 1: se-personnummer: check digit" in str(e.value)
        assert "200311161633" not in str(e.value)
        nulled = pseudonymise_column(tok, bad, "ssn", "patients", on_error="null")
        assert list(nulled["ssn"]) == [expected[0], None]
    with vault.client(tenant.reidentifier) as reid:
        back = reidentify_column(reid, out.drop(columns=["ssn"]), "ssn_p", "patients", "care")
        assert list(back["ssn_p"]) == [SSN, None, OTHER, None]


def test_no_identifier_reaches_the_server_log(vault, tenant):
    text = vault.log_text()
    assert "valv is serving" in text
    for secret in [SSN, OTHER, "19520903-5525", "200311161633", "197807241901", "anna@example.org", "free text"]:
        assert secret not in text, "an identifier reached the server log"


def test_unavailable_is_retried_then_raised():
    import socket
    import time

    from valv import Unavailable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with Client(f"http://127.0.0.1:{port}", token="valv_x", retries=2, timeout=5) as nobody:
        with pytest.raises(Unavailable) as e:
            nobody.limits()
    assert e.value.code.name == "UNAVAILABLE"
    # Two retries waited about 0.1 s and 0.2 s (less up to half of each for jitter).
    assert time.monotonic() - started >= 0.15
