"""``send_at``: only ``None`` means "send now"; an empty or "None" text is an error.

``send_at`` usually comes from a template (``"{{ ti.xcom_pull(...)['date'] }}"``).
A template whose value was missing renders ``""``, and Jinja renders a
Python ``None`` as the text ``"None"``. Reading either as "no date" would turn
a scheduled legal notice into an immediate one, which cannot be undone, so
both are refused before any request. ``"null"`` (what ``tojson`` renders for
None) is refused for the same reason. To send now, leave ``send_at`` out or
pass ``None``; a template that should be able to mean "now" can render a real
None with ``render_template_as_native_obj=True``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.validation import MADRID, VENDOR_DATE_FORMAT, to_madrid, vendor_datetime

_NONE_TEXTS = frozenset({"none", "null"})
#: The vendor's own ``Fecha`` text, as the send operators return it in their XCom (Europe/Madrid by contract).
_VENDOR_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def check_send_at(value: Any, *, vendor: str = "mensatek", reschedule: bool = False) -> Any:
    """``value`` unchanged, unless it is a text that stands for no date (empty, blank, "None", "null")."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text and text.lower() not in _NONE_TEXTS:
        return value
    seen = "empty" if not text else f"the text {value!r}"
    cause = ("what a template renders when the value it reads (an XCom, a param) is missing" if not text else
             "how Jinja renders a missing (None) value")
    if reschedule:
        raise ValidationError(f"send_at is {seen}, {cause}: a reschedule needs a date.", vendor=vendor)
    raise ValidationError(
        f"send_at is {seen}, {cause}. Not sending now: a scheduled message must not go out at once because "
        "its date was lost. To send now, leave send_at out or pass None (with "
        "render_template_as_native_obj=True a template that renders None gives None).",
        vendor=vendor,
    )


def vendor_send_at(value: Any, *, vendor: str = "mensatek") -> str | None:
    """The vendor's ``Fecha`` (Europe/Madrid ``YYYY-MM-DD HH:MM``, in the future), or None to send now."""
    if check_send_at(value, vendor=vendor) is None:
        return None
    return vendor_datetime(value, what="send_at", vendor=vendor)


def send_at_timestamp(value: Any, *, vendor: str = "mensatek") -> float | None:
    """When a scheduled message goes out (POSIX seconds), or None when unknown ("sent now").

    For a wait, not a send: a time already past is fine. Takes what the send operators take, and
    also the vendor's ``YYYY-MM-DD HH:MM`` (Europe/Madrid) that their XCom's ``send_at`` carries.
    """
    if check_send_at(value, vendor=vendor) is None:
        return None
    if isinstance(value, str) and _VENDOR_TEXT.fullmatch(value.strip()):
        return datetime.strptime(value.strip(), VENDOR_DATE_FORMAT).replace(tzinfo=MADRID).timestamp()
    return to_madrid(value, what="send_at", vendor=vendor).timestamp()
