"""A campaign's recipients file, read so that it can neither swallow recipients nor leak a whole file.

A recipients file comes from outside: an export, an upload, a path in
``dag_run.conf``. Reading it must not:

* **swallow recipients.** A stray quote (``"Ana,ana@example.com``) makes the
  csv module read every later line into one field: 3,001 recipients become one
  invalid row, and with ``max_invalid=5`` the campaign runs with everyone
  silently dropped. Here every row is exactly one line: the csv reader gets one
  line per row, and asking for a second one (a quoted field still open at the
  end of its line) refuses the file naming that line. So a file can never hold
  fewer rows than lines, and a field can never hold a line break.
* **fail in a way Airflow retries.** A Latin-1 or UTF-16 file, a NUL byte, a
  field over the csv module's limit, a missing file: each is a
  :class:`~airflow_provider_mensatek.clients.errors.ValidationError` naming the
  line (the operators fail such a task without retries), never a raw
  UnicodeDecodeError or csv.Error. ``encoding=`` reads other encodings.
* **read a file the DAG author did not allow.** A local path is opened only
  inside the allowed roots, as a regular file and no credential cache
  (:func:`open_recipients`).
* **copy an arbitrary file into XCom and rejected.jsonl.** A line holds at most
  :data:`MAX_LINE_CHARS`; a rejected row keeps at most
  :data:`MAX_REJECTED_ROW_CHARS` of its cells (see :func:`capped_row`) and its
  reason at most :data:`MAX_REASON_CHARS`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from airflow_provider_mensatek.campaigns.spreadsheet_cells import restore
from airflow_provider_mensatek.clients._local_files import normalise_roots, open_source
from airflow_provider_mensatek.clients.errors import ValidationError

#: Longest line read (with its line break). A recipient row is a few hundred characters; a longer line
#: means the file is not a recipients file, and reading on would hold the whole of it in memory.
MAX_LINE_CHARS = 1 << 20
#: What a rejected row keeps of its cells (names and values), in rejected.jsonl and in XCom.
MAX_REJECTED_ROW_CHARS = 1000
#: What a rejected row keeps of its reason (the validators quote the value they refused).
MAX_REASON_CHARS = 300

#: Characters Python's surrogateescape error handler puts in place of bytes the codec could not decode.
_UNDECODED = re.compile("[\udc80-\udcff]")
_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")


@dataclass(frozen=True)
class BadRow:
    """A source row that cannot be a recipient, whatever the channel (wrong field count, bad JSON)."""

    reason: str
    row: dict[str, Any]


# -- opening and decoding -----------------------------------------------------------------------


@contextmanager
def open_recipients(path: Any, encoding: str | None = None, *,
                    allowed_roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
                    ) -> Iterator[IO[str]]:
    """The recipients file at ``path`` as text, undecodable bytes marked.

    ``path``: a local path, a ``file://`` URL or an object-storage path. A local
    file is read only inside ``allowed_roots`` (none by default) and only if it
    is a regular file and no credential cache: the rules attachments follow (see
    :mod:`~airflow_provider_mensatek.clients._local_files`), as a templated
    ``recipients_path`` must not read ``/proc/self/environ`` into a campaign.
    ``encoding``: the file's text encoding, default UTF-8 (a byte order mark is
    skipped). Bytes that are not valid in it do not raise here: they come out
    as surrogate escapes, which the row readers refuse naming the line.
    """
    codec = _codec(encoding)
    try:
        binary = open_source(path, allowed_roots=normalise_roots(allowed_roots), what="recipients_path")
    except FileNotFoundError:
        raise ValidationError(f"recipients_path {path} does not exist") from None
    except IsADirectoryError:
        raise ValidationError(f"recipients_path {path} is a folder, not a recipients file") from None
    with io.TextIOWrapper(binary, encoding=codec, errors="surrogateescape", newline="") as stream:
        yield stream


def _codec(encoding: str | None) -> str:
    if encoding is None:
        return "utf-8-sig"
    if not isinstance(encoding, str) or not encoding.strip():
        raise ValidationError(f"encoding must be the name of a text encoding such as 'latin-1', got {encoding!r}")
    try:
        # A text encoding, not a bytes-to-bytes codec such as "base64" (TextIOWrapper refuses those).
        io.TextIOWrapper(io.BytesIO(), encoding=encoding.strip())
    except LookupError:
        raise ValidationError(f"encoding {encoding!r} is not a text encoding Python knows (e.g. 'utf-8', "
                              "'latin-1', 'cp1252', 'utf-16')") from None
    return "utf-8-sig" if encoding.strip().lower().replace("_", "-") in ("utf-8", "utf8") else encoding.strip()


class _Lines:
    """``(line number, text)`` of each line of a text stream, refusing what no recipients file holds."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.number = 0
        self.codec = str(getattr(stream, "encoding", None) or "utf-8").replace("-sig", "")

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> tuple[int, str]:
        try:
            text = self.stream.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:  # an error the surrogate escapes cannot carry (e.g. odd UTF-16 bytes)
            raise ValidationError(f"the file cannot be read as {self.codec} after line {self.number} "
                                  f"({exc.reason}): give its encoding (encoding='...')") from None
        if not text:
            raise StopIteration
        self.number += 1
        if len(text) > MAX_LINE_CHARS:
            raise ValidationError(f"line {self.number} is longer than {MAX_LINE_CHARS:,} characters: this is not "
                                  "a recipients file")
        undecoded = _UNDECODED.search(text)
        if undecoded is not None:
            raise ValidationError(self._undecodable(text, undecoded.start()))
        if "\x00" in text:
            raise ValidationError(f"line {self.number} holds a NUL character (at character {text.index(chr(0)) + 1})"
                                  ": a binary file, or UTF-16 text read as another encoding (give "
                                  "encoding='utf-16')")
        return self.number, text

    def _undecodable(self, text: str, position: int) -> str:
        if self.number == 1 and text.startswith(("\udcff\udcfe", "\udcfe\udcff")):
            return "the file starts with a UTF-16 byte order mark: give encoding='utf-16'"
        byte = ord(text[position]) - 0xDC00
        return (f"line {self.number} is not valid {self.codec} text (byte 0x{byte:02x} at character "
                f"{position + 1}): give the file's encoding, e.g. encoding='cp1252' or 'latin-1' for a Western "
                "European spreadsheet export, 'utf-16' for a Unicode text export")


# -- rows ----------------------------------------------------------------------------------------


class _OneLinePerRow:
    """The lines a csv reader reads, one per row: asking for a second line inside a row refuses the file.

    The csv reader asks for another line only while a quoted field is open at
    the end of the last one. That is how one stray quote swallows the rest of a
    file, and a legitimate field has no line break in a recipients file.
    """

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self.lines = lines
        self.row_line = 0

    def __iter__(self) -> _OneLinePerRow:
        return self

    def __next__(self) -> str:
        if self.row_line:
            raise ValidationError(
                f"line {self.row_line}: a quoted field opens on this line and is not closed on it. A field may "
                "not span lines (one stray quote would swallow every later line into it): fix the quotes on "
                f"line {self.row_line}")
        self.row_line, text = next(self.lines)
        return text

    def next_row(self, reader: Any) -> tuple[int, list[str]] | None:
        """``(line, fields)`` of the next row, or None at the end of the file."""
        self.row_line = 0
        try:
            values = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
            raise ValidationError(f"line {self.row_line}: {exc}: this is not a recipients file, or a quote is "
                                  "missing") from None
        return self.row_line, [restore(v) for v in values]


def rows_from_csv(stream: IO[str], *, delimiter: str | None = None) -> Iterator[tuple[int, Any]]:
    """CSV rows as dicts keyed by the header, each with its file line.

    The delimiter is sniffed between ``,`` and ``;`` (Spanish spreadsheets
    export ``;``) unless given. Cells a spreadsheet-safe export prefixed with a
    quote (``'+34600000001``, see
    :mod:`~airflow_provider_mensatek.campaigns.spreadsheet_cells`) are read
    without it, so the summary's files can be planned again as they are.
    """
    lines = _Lines(stream)
    first = next(lines, None)
    if first is None or not first[1].strip():
        raise ValidationError("the CSV file is empty (no header row)")
    if delimiter is None:
        delimiter = ";" if first[1].count(";") > first[1].count(",") else ","
    header_source = _OneLinePerRow(iter([first]))
    header_row = header_source.next_row(csv.reader(header_source, delimiter=delimiter))
    header = [h.strip().lstrip("\ufeff") for h in (header_row[1] if header_row else [])]
    if len(set(header)) != len(header):
        raise ValidationError(shorten(f"the CSV header (line 1) repeats a column name: {header}", MAX_REASON_CHARS))
    source = _OneLinePerRow(lines)
    reader = csv.reader(source, delimiter=delimiter)
    while (row := source.next_row(reader)) is not None:
        line, values = row
        if not values or all(not v.strip() for v in values):
            continue  # blank lines are layout, not recipients
        if len(values) != len(header):
            yield line, BadRow(f"has {len(values)} fields, the header has {len(header)}",
                               dict(zip(header, values, strict=False)))
            continue
        yield line, dict(zip(header, values, strict=True))


def rows_from_json_lines(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    for number, text in _Lines(stream):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, BadRow(f"is not valid JSON ({exc.msg})", {"raw": text.rstrip("\r\n")})


def rows_from_stream(stream: IO[str], file_format: str) -> Iterator[tuple[int, Any]]:
    if file_format == "csv":
        return rows_from_csv(stream)
    if file_format in ("jsonl", "ndjson", "json_lines"):
        return rows_from_json_lines(stream)
    raise ValidationError(f"file_format must be 'csv' or 'jsonl', got {file_format!r}")


def format_for(name: str) -> str:
    """The file format from a file name's extension."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    raise ValidationError(f"cannot tell the format of {name!r}: give file_format='csv' or 'jsonl'")


# -- options and caps ----------------------------------------------------------------------------


def whole_number(value: Any, name: str, *, minimum: int) -> int | None:
    """A count option: None (the default) stays None; an int, or the text of one (a rendered template).

    Anything else is refused, an empty rendered template included: ``batch_size=0``
    or ``max_invalid=""`` must not quietly become "the default" or "no limit".
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        number = int(value)
    else:
        raise ValidationError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if number < minimum:
        raise ValidationError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return number


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped_row(row: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The first cells of ``row`` up to :data:`MAX_REJECTED_ROW_CHARS` (names and values), and whether any were cut.

    A rejected row is kept to say why it was refused and to resend it once
    fixed: a recipient row fits whole. What does not fit is a line of some other
    file, which must not be copied whole into XCom and rejected.jsonl.
    """
    out: dict[str, Any] = {}
    used = 0
    for key, value in row.items():
        name = str(key)
        if value is not None and not isinstance(value, str | int | float | bool):
            value = json.dumps(value, ensure_ascii=False, default=str)
        size = len(name) + len(value if isinstance(value, str) else str(value))
        if used + size <= MAX_REJECTED_ROW_CHARS:
            out[name] = value
            used += size
            continue
        room = MAX_REJECTED_ROW_CHARS - used - len(name)
        if room > 0:
            out[name] = shorten(str(value), room)
        return out, True
    return out, False
