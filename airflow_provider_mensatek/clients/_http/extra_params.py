"""``extra_params``: vendor parameters the provider does not model, checked before anything is sent.

Two rules, both applied while the request is built (so a bad value is a
:class:`ValidationError` with nothing sent, never a send that "may have left"):

* every value must be plain JSON (strings, numbers, booleans, null, lists and
  objects of them; no NaN or infinity, no datetimes): the body is JSON, and a
  value the encoder refuses would otherwise fail mid-send;
* no key may stand for a parameter the call models itself (case-insensitive),
  whether this call sets it or not: ``Fecha`` would skip the checks of
  ``send_at`` (time zone, past dates), ``Referenciausuario`` the reference the
  at-most-once contract looks messages up by, ``Resp`` the answer format the
  client parses. Use the named argument instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError

_COMMON = frozenset({"resp", "destinatarios", "fecha", "referenciausuario", "report"})

#: Per vendor function, the parameters its client method sets from named arguments.
MODELED_PARAMS: dict[str, frozenset[str]] = {
    "EnviarEMAILCERTIFICADO": _COMMON | {"remitente", "asunto", "mensaje", "aceptacion", "caducidadaceptacion",
                                         "adjuntos"},
    "EnviarSMS": _COMMON | {"remitente", "mensaje", "unicode", "idmensaje", "fail2voice", "lenguajevoz",
                            "remitentevoz", "obviarlistanegra", "fixutf8"},
    "EnviarEMAIL": _COMMON | {"emailremitente", "asunto", "mensaje", "plantilla", "nombreremitente", "replyto",
                              "intervaloprohibido", "adjuntos", "seguimientoaperturas", "seguimientoclicks",
                              "listunsubscribe", "listhelp"},
    "EnviarRCS": _COMMON | {"plantilla", "agente", "intervaloprohibido"},
}


def merge_extra_params(params: dict[str, Any], extra: Mapping[str, Any] | None, function: str) -> None:
    """Add ``extra`` to ``params``, or raise ValidationError naming the offending key."""
    if not extra:
        return
    if not isinstance(extra, Mapping):
        raise ValidationError(f"extra_params must be a dict of vendor parameters, got {type(extra).__name__}",
                              function=function)
    ours = {k.lower() for k in params} | MODELED_PARAMS.get(function, _COMMON)
    clash = sorted(str(k) for k in extra if str(k).lower() in ours)
    if clash:
        raise ValidationError(
            f"extra_params {clash} would override parameters this call sets itself; use the named "
            "arguments instead", function=function,
        )
    for key, value in extra.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"extra_params[{str(key)!r}] is not plain JSON ({exc}); pass strings, numbers, booleans, lists "
                "or dicts of them (format dates as the vendor expects, e.g. 'YYYY-MM-DD HH:MM')",
                function=function,
            ) from None
    params.update({str(k): v for k, v in extra.items()})
