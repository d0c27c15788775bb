"""Reading a recipients file: stray quotes, encodings, over-long lines and fields, caps on rejected rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.input import (
    MAX_LINE_CHARS,
    MAX_REJECTED_ROW_CHARS,
    open_recipients,
    rows_from_csv,
    rows_from_json_lines,
)
from airflow_provider_mensatek.campaigns.plan import batch_size_for, plan_campaign
from airflow_provider_mensatek.campaigns.recipients import RecipientReader, rows_from_list
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Sandbox


def people(count: int) -> list[str]:
    return [f"Persona {i},persona{i}@example.com" for i in range(count)]


def plan_file(tmp_path: Path, data: bytes, encoding: str | None = None, **kwargs: Any) -> dict[str, Any]:
    source = tmp_path / "people.csv"
    source.write_bytes(data)
    options: dict[str, Any] = {"channel": "certified_email", "campaign_reference": "c", "max_invalid": 5}
    options.update(kwargs)
    with open_recipients(source, encoding, allowed_roots=[tmp_path]) as stream:
        return plan_campaign(rows_from_csv(stream), tmp_path / "campaign", **options)


def test_a_stray_quote_refuses_the_file_naming_its_line_and_nothing_is_planned(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """3,001 recipients, a stray quote on line 2: the csv module would read lines 2..3002 as one field."""
    lines = ["name,email", '"Ana,ana@example.com', *people(3000)]

    with pytest.raises(ValidationError, match=r"^mensatek \(code local\): line 2: a quoted field opens"):
        plan_file(tmp_path, ("\n".join(lines) + "\n").encode(), max_invalid=5)

    assert not (tmp_path / "campaign" / "plan.json").exists()
    assert not (tmp_path / "campaign" / "batches").exists()
    assert len(sandbox.requests) == 0


@pytest.mark.parametrize(("text", "line"), [
    ('name,email\nAna,ana@example.com\n"Bea\nRuiz",bea@example.com\n', 3),  # a field spanning two lines
    ('name,email\nAna,ana@example.com\nBea,"bea@example.com\nCarla,carla@example.com\n', 3),  # break + separator
    ('name,email\nAna,"ana@example.com', 2),  # a quote open at the end of the file
    ('"name,email\nAna,ana@example.com\n', 1),  # in the header
])
def test_a_field_may_not_span_lines(text: str, line: int) -> None:
    with pytest.raises(ValidationError, match=rf"line {line}: a quoted field opens on this line"):
        list(rows_from_csv(io.StringIO(text)))


def test_quoted_separators_and_quotes_on_one_line_are_fine() -> None:
    text = 'name,email\n"Ruiz, Bea ""la jefa""",bea@example.com\r\nAna,ana@example.com'
    assert list(rows_from_csv(io.StringIO(text))) == [
        (2, {"name": 'Ruiz, Bea "la jefa"', "email": "bea@example.com"}),
        (3, {"name": "Ana", "email": "ana@example.com"})]


def test_a_latin1_file_fails_naming_the_line_and_reads_with_its_encoding(tmp_path: Path) -> None:
    data = "name,email\nAna,ana@example.com\nJosé,jose@example.com\n".encode("latin-1")

    with pytest.raises(ValidationError, match=r"line 3 is not valid utf-8 text \(byte 0xe9 at character 4\): "
                                              r"give the file's encoding, e\.g\. encoding='cp1252'"):
        plan_file(tmp_path, data)
    plan = plan_file(tmp_path, data, encoding="latin-1")

    batch = json.loads((tmp_path / "campaign" / "batches" / "00001.json").read_text())
    assert [r["Nombre"] for r in json.loads(batch["destinatarios"])] == ["Ana", "José"]
    assert plan["valid"] == 2


@pytest.mark.parametrize(("data", "message"), [
    ("name,email\nAna,ana@example.com\n".encode("utf-16"), "starts with a UTF-16 byte order mark"),
    ("name,email\nAna,ana@example.com\n".encode("utf-16-le"), r"line 1 holds a NUL character .* encoding='utf-16'"),
])
def test_a_utf16_file_says_which_encoding_to_give(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        plan_file(tmp_path, data)
    assert plan_file(tmp_path, data, encoding="utf-16-le" if b"\xff\xfe" not in data[:2] else "utf-16")["valid"] == 1


def test_undecodable_bytes_the_escapes_cannot_carry_fail_clearly(tmp_path: Path) -> None:
    data = "name,email\nAna,ana@example.com\n".encode("utf-16") + b"\x00"  # an odd byte at the end
    with pytest.raises(ValidationError, match=r"cannot be read as utf-16 after line \d+ \(truncated data\)"):
        plan_file(tmp_path, data, encoding="utf-16")


def test_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    for encoding in ("klingon", "base64", ""):
        with pytest.raises(ValidationError, match="encoding"):
            plan_file(tmp_path, b"name,email\n", encoding=encoding)


def test_a_field_over_the_csv_limit_fails_naming_the_line() -> None:
    text = f"name,email\nAna,ana@example.com\nBea,{'b' * (csv.field_size_limit() + 1)}@example.com\n"
    with pytest.raises(ValidationError, match=r"line 3: field larger than field limit"):
        list(rows_from_csv(io.StringIO(text)))


def test_an_over_long_line_is_refused_before_it_is_held_whole() -> None:
    for rows in (rows_from_csv, rows_from_json_lines):
        text = "name,email\n" + "x" * (MAX_LINE_CHARS + 10)
        with pytest.raises(ValidationError, match=r"line 2 is longer than 1,048,576 characters"):
            list(rows(io.StringIO(text)))


def test_a_missing_recipients_file_or_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValidationError, match=r"recipients_path .*nope\.csv': No such file or directory"):
        with open_recipients(tmp_path / "nope.csv", allowed_roots=[tmp_path]):
            pass
    with pytest.raises(ValidationError, match="is a directory, not a regular file"):
        with open_recipients(tmp_path / "sub", allowed_roots=[tmp_path]):
            pass


class FakeS3Path:
    """Stands in for an ``s3://`` ObjectStoragePath (no S3 here): ``protocol``, ``name`` and ``open("rb")``."""

    protocol = "s3"
    name = "people.csv"

    def __str__(self) -> str:
        return "s3://lake/people.csv"

    def open(self, mode: str) -> io.BytesIO:
        assert mode == "rb"
        return io.BytesIO(b"name,email\nAna,ana@example.com\n")


def test_object_storage_needs_no_root_and_local_files_need_one(tmp_path: Path) -> None:
    with open_recipients(FakeS3Path()) as stream:  # no allowed root at all
        assert [row for _, row in rows_from_csv(stream)] == [{"name": "Ana", "email": "ana@example.com"}]
    (tmp_path / "people.csv").write_text("name,email\nAna,ana@example.com\n")
    with pytest.raises(ValidationError, match=r"outside any allowed root \(allowed_roots is empty\)"):
        with open_recipients(tmp_path / "people.csv"):
            pass
    with pytest.raises(ValidationError, match="http\\(s\\) URLs are not fetched"):
        with open_recipients("https://169.254.169.254/latest/people.csv", allowed_roots=["/"]):
            pass


# -- what a rejected row carries -------------------------------------------------------------------


def test_a_large_non_csv_file_leaves_only_capped_rows_in_rejected_jsonl_and_the_plan(tmp_path: Path) -> None:
    """An arbitrary local file as recipients: its lines must not be copied whole into XCom and rejected.jsonl."""
    secret_lines = [f"SECRET_{i}=" + "s" * 4000 for i in range(2000)]  # 8 MB, no separator, no address
    source = tmp_path / "environ.txt"
    source.write_text("\n".join(secret_lines) + "\n")

    with open_recipients(source, allowed_roots=[tmp_path]) as stream:
        plan = plan_campaign(rows_from_csv(stream), tmp_path / "campaign", channel="certified_email",
                             campaign_reference="c", max_invalid=None)

    assert (plan["rows"], plan["invalid"], plan["valid"]) == (1999, 1999, 0)
    assert len(plan["first_rejected"]) == 10 and plan["more_rejected"] == 1989
    assert len(json.dumps(plan)) < 20_000  # what the plan operator pushes to XCom
    for rejected in plan["first_rejected"]:
        assert sum(len(k) + len(str(v)) for k, v in rejected["row"].items()) <= MAX_REJECTED_ROW_CHARS
        assert rejected["truncated"] and len(rejected["reason"]) <= 300
    kept = (tmp_path / "campaign" / "rejected.jsonl").read_text().splitlines()
    assert len(kept) == 1999 and max(len(line) for line in kept) < 2 * MAX_REJECTED_ROW_CHARS


def test_a_rejected_row_keeps_a_normal_row_whole() -> None:
    reader = RecipientReader("certified_email", None, max_invalid=None)
    list(reader.recipients(rows_from_list([{"name": "Bea", "email": "not-an-email", "note": "x" * 100}])))
    (rejected,) = reader.first_rejected
    assert rejected.row == {"name": "Bea", "email": "not-an-email", "note": "x" * 100}
    assert not rejected.truncated


def test_the_error_that_stops_a_plan_quotes_short_reasons() -> None:
    rows = [{"email": "x" * 5000 + str(i)} for i in range(30)]
    with pytest.raises(ValidationError) as raised:
        list(RecipientReader("certified_email", None, max_invalid=20).recipients(rows_from_list(rows)))
    assert "More than 20 invalid" in str(raised.value) and len(str(raised.value)) < 10 * 300 + 500


# -- number options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, "0", -1, "", "abc", 1.5, True, "2.0"])
def test_batch_size_must_be_a_positive_whole_number(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ValidationError, match=r"batch_size must be a whole number >= 1"):
        plan_campaign(rows_from_list(["a@example.com"]), tmp_path / "c", channel="certified_email",
                      campaign_reference="c", batch_size=value)
    assert not (tmp_path / "c").exists()


def test_batch_size_zero_is_not_the_default() -> None:
    assert batch_size_for("certified_email", None) == 1000
    assert batch_size_for("certified_email", "7") == 7
    assert batch_size_for("legallymail_certified_email", None, legallymail_max_recipients=3) == 3
    with pytest.raises(ValidationError):
        batch_size_for("legallymail_certified_email", 0)


@pytest.mark.parametrize("value", [-1, "-1", "", "abc", 0.5, False])
def test_max_invalid_must_be_a_whole_number_or_none(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ValidationError, match=r"max_invalid must be a whole number >= 0"):
        plan_campaign(rows_from_list(["a@example.com"]), tmp_path / "c", channel="certified_email",
                      campaign_reference="c", max_invalid=value)
    assert plan_campaign(rows_from_list(["a@example.com", "bad"]), tmp_path / "d", channel="certified_email",
                         campaign_reference="c", max_invalid="1")["invalid"] == 1
