"""Shared coercions of vendor values: numbers sent as strings, arrays sent as JSON text, the result base.

Lists of records inside Mensatek answers come in JSON or in the single-quoted form the SMS document prints.

``GetReportSMS`` returns ``Informe``, "array per recipient with the message
data", and the document's example of it is not JSON::

    [{'Fecha':'2021-09-04 19:37:21','Tiempo':3,'Telefono':'34601234567','Resultado':11,...}]

Read as JSON that is no report at all, and a sensor would wait forever for
statuses it was given. :func:`decode_records` reads JSON first, then that
single-quoted form, and refuses anything else loudly instead of returning an
empty list. The single-quoted form is parsed with :mod:`ast` (never evaluated)
and accepted only as a list of flat records whose keys are text and whose
values are text or numbers.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from airflow_provider_mensatek.clients.errors import MensatekError

#: A report lists one record per recipient; far beyond any real answer, and small enough to parse safely.
MAX_RECORDS_TEXT = 5_000_000

Scalar = str | int | float


def decode_records(value: Any, *, function: str, field: str) -> list[dict[str, Any]]:
    """The records of one answer field, keys lower-cased; ``[]`` only when the field is empty.

    Raises :class:`MensatekError` (code ``"parse"``) when the field holds
    something that is neither JSON nor the document's single-quoted list of
    records. The error names the field and its size, not its content.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    data = _parse(value.strip(), function=function, field=field) if isinstance(value, str) else value
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
        raise _unreadable(function, field, value, f"expected a list of records, got {type(data).__name__}")
    return [{str(k).lower(): v for k, v in item.items()} for item in data]


def _parse(text: str, *, function: str, field: str) -> Any:
    if len(text) > MAX_RECORDS_TEXT:
        raise _unreadable(function, field, text, f"longer than {MAX_RECORDS_TEXT} characters")
    try:
        return json.loads(text)
    except RecursionError:
        raise _unreadable(function, field, text, "nested too deeply") from None
    except ValueError:
        pass
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # "from None": the parser's error quotes the vendor's text, which stays out of logs.
        raise _unreadable(function, field, text,
                          f"not JSON, nor a Python-style literal ({type(exc).__name__})") from None
    body = tree.body
    items = body.elts if isinstance(body, ast.List) else [body] if isinstance(body, ast.Dict) else None
    if items is None:
        raise _unreadable(function, field, text, "not a list of records")
    return [_record(item, function, field, text) for item in items]


def _record(node: ast.expr, function: str, field: str, text: str) -> dict[str, Scalar]:
    if not isinstance(node, ast.Dict):
        raise _unreadable(function, field, text, "an entry is not a record")
    record: dict[str, Scalar] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise _unreadable(function, field, text, "a record key is not text")
        record[key.value] = _scalar(value, function, field, text)
    return record


def _scalar(node: ast.expr, function: str, field: str, text: str) -> Scalar:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        if isinstance(node.value, int | float):
            return sign * node.value
        if isinstance(node.value, str) and sign == 1:
            return node.value
    raise _unreadable(function, field, text, "a record value is not text or a number")


def _unreadable(function: str, field: str, value: Any, why: str) -> MensatekError:
    size = len(value) if isinstance(value, str) else None
    return MensatekError(
        f"Unreadable {field} in the answer ({size if size is not None else '?'} characters): {why}. Refusing "
        "to read it as 'no report', which would wait forever; check the vendor's answer format",
        function=function, code="parse",
    )



# -- coercions of vendor values ------------------------------------------------


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(float(value)) if isinstance(value, str) and "." in value else int(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def decode_json_array(value: Any) -> list[dict[str, Any]]:
    """Arrays inside answers arrive JSON-encoded in a string (or, sometimes, as real arrays)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [{str(k).lower(): v for k, v in item.items()} for item in value if isinstance(item, dict)]


class _Jsonable:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


__all__ = ["MAX_RECORDS_TEXT", "_Jsonable", "as_float", "as_int", "decode_json_array", "decode_records"]
