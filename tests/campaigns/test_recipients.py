"""Campaign recipients (campaigns/recipients.py): CSV, JSON Lines and list rows checked by line."""

from __future__ import annotations

import io
import json

from airflow_provider_mensatek.campaigns.input import rows_from_csv, rows_from_json_lines
from airflow_provider_mensatek.campaigns.recipients import (
    RecipientReader,
    rows_from_list,
)
from airflow_provider_mensatek.sandbox import Sandbox
from tests.campaigns.support import CSV_TEXT


def test_csv_rows_are_validated_with_their_file_line_numbers(sandbox: Sandbox) -> None:
    reader = RecipientReader("certified_email", {"variables": ["importe"]}, max_invalid=None)
    valid = list(reader.recipients(rows_from_csv(io.StringIO(CSV_TEXT))))

    assert [r.line for r in valid] == [2, 4, 8]
    assert valid[0].vendor == {"Nombre": "Ana", "Email": "ana@example.com", "importe": "10"}
    rejected = [(r.line, r.kind, r.reason) for r in reader.first_rejected]
    assert rejected[0][:2] == (3, "invalid") and "not-an-email" in rejected[0][2]
    assert rejected[1] == (5, "invalid", "has 2 fields, the header has 4")
    assert rejected[2] == (6, "duplicate", "duplicate of line 2 (ana@example.com)")
    assert (reader.read, reader.invalid, reader.duplicates) == (6, 2, 1)
    assert len(sandbox.requests) == 0


def test_sms_channel_uses_the_phone_column_and_the_phone_validator() -> None:
    reader = RecipientReader("sms", {"variables": {"Variable_1": "importe"}}, max_invalid=None)
    valid = list(reader.recipients(rows_from_csv(io.StringIO(CSV_TEXT))))

    assert [(r.line, r.vendor["Movil"]) for r in valid][:2] == [(2, "34600000001"), (4, "34600000003")]
    assert valid[0].vendor["Variable_1"] == "10"
    assert [(r.line, r.kind) for r in reader.first_rejected] == [(3, "invalid"), (5, "invalid")]
    assert "not an international number" in reader.first_rejected[0].reason


def test_json_lines_bad_json_is_an_invalid_row_with_its_line() -> None:
    text = '{"email": "a@example.com"}\n{not json\n\n{"email": "b@example.com", "name": "Bea"}\n'
    reader = RecipientReader("email", None, max_invalid=None)
    valid = list(reader.recipients(rows_from_json_lines(io.StringIO(text))))

    assert [(r.line, r.key) for r in valid] == [(1, "a@example.com"), (4, "b@example.com")]
    assert reader.first_rejected[0].line == 2 and "not valid JSON" in reader.first_rejected[0].reason


def test_list_source_accepts_strings_dicts_and_a_json_xcom_string() -> None:
    reader = RecipientReader("legallymail_certified_email", None, max_invalid=None)
    items = json.dumps(["a@example.com", {"email": "b@example.com"}, 42])
    valid = list(reader.recipients(rows_from_list(items)))

    assert [v.vendor for v in valid] == [{"email": "a@example.com"}, {"email": "b@example.com"}]
    assert reader.first_rejected[0].line == 3
