"""Where a certificate set goes below its destination: the folder layout, for every vendor.

Kept apart from the archiving machinery (ZIP checks, manifests, the vendor
clients) because the certificate operators read it at DAG-parse time, to
declare the Asset they write into; everything else waits for ``execute``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mensatek.certificates.names import safe_relative_path
from airflow_provider_mensatek.clients.errors import ValidationError

#: ``<destination>/<vendor>/<kind>/<id>/``; placeholders: {vendor}, {kind}, {id}.
DEFAULT_LAYOUT = "{vendor}/{kind}/{id}"

MENSATEK_CERTIFIED_EMAIL = ("mensatek", "certified_email")


def render_layout(layout: str, *, vendor: str, kind: str, id: Any) -> str:
    """The relative folder of one set; refuses a layout that could escape the destination."""
    try:
        relative = layout.format(vendor=vendor, kind=kind, id=id)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(f"layout {layout!r} is not valid: use only {{vendor}}, {{kind}} and {{id}} "
                              f"({exc})", vendor="provider") from None
    try:
        return safe_relative_path(relative, vendor="provider")
    except Exception as exc:
        raise ValidationError(f"layout {layout!r} gives an unsafe folder {relative!r}",
                              vendor="provider") from exc


def static_layout_prefix(layout: str, *, vendor: str, kind: str) -> str:
    """The part of the layout that does not depend on the id (the Asset a task writes into)."""
    head = layout.split("{id}", 1)[0].rstrip("/")
    return head.format(vendor=vendor, kind=kind) if head else ""
