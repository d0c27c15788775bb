"""MensatekReportsHook: the report receiver's own connection (``mensatek_reports``), read and checked.

Not the API token: this connection holds the credential the vendor panel sends
*to Airflow* with every real-time report (Basic authentication), and how the
receiver treats what it stores. The receiver in the api-server reads it through
this hook; a bad extra is refused by name.

Fields: *login* = the Basic user, *password* = the Basic password (a long random
value: see the README). Extras:

``previous_password``
    A second password accepted while the panel is switched to a new one (rotation).
``max_body_bytes``
    Largest report body accepted (default 65536; larger is answered 413).
``asset_events``
    ``partitioned`` (default: one Asset event per stored report, partition key =
    message id), ``plain`` (no partition key, for ``schedule=[Asset]`` DAGs) or
    ``off`` (reports are stored, no event).
``personal_data``
    ``true`` puts recipients and received SMS text in the Asset events' extra
    (default ``false``: events are readable by every user allowed to see assets).
``anonymous_url_check``
    ``true`` answers an unauthenticated GET/HEAD with 200, for a panel URL check
    that sends no credentials (POSTs always need them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.hooks._connection import extra_number, mask_credential

ASSET_EVENT_MODES = ("partitioned", "plain", "off")
DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: The documented reports are well under 1 KiB; a larger cap only lets a credential holder fill the table.
MAX_BODY_BYTES_LIMIT = 1024 * 1024
_VENDOR = "mensatek"


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver needs from its connection; the secrets never in the repr."""

    user: str
    password: str = field(repr=False)
    previous_password: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    asset_events: str = "partitioned"
    personal_data: bool = False
    anonymous_url_check: bool = False

    @property
    def passwords(self) -> tuple[str, ...]:
        return (self.password,) if not self.previous_password else (self.password, self.previous_password)


def receiver_settings(conn: Any) -> ReceiverSettings:
    """The settings of an Airflow Connection; ``ValidationError`` naming a missing or bad field."""
    extra = conn.extra_dejson or {}
    if not conn.login or not conn.password:
        raise ValidationError("the reports connection needs a login and a password (the panel's Basic credential)",
                              vendor=_VENDOR)
    if ":" in conn.login:
        raise ValidationError("the reports connection's login must not contain ':' (Basic authentication)",
                              vendor=_VENDOR)
    previous = extra.get("previous_password")
    if previous is not None and not isinstance(previous, str):
        raise ValidationError("Connection extra 'previous_password' must be text", vendor=_VENDOR)
    mode = extra.get("asset_events", "partitioned")
    if mode not in ASSET_EVENT_MODES:
        raise ValidationError(f"Connection extra 'asset_events' must be one of {', '.join(ASSET_EVENT_MODES)}, "
                              f"got {mode!r}", vendor=_VENDOR)
    max_bytes = int(extra_number(extra, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, vendor=_VENDOR, whole=True))
    if max_bytes > MAX_BODY_BYTES_LIMIT:
        raise ValidationError(f"Connection extra 'max_body_bytes' must be at most {MAX_BODY_BYTES_LIMIT}",
                              vendor=_VENDOR)
    return ReceiverSettings(
        user=conn.login, password=conn.password, previous_password=previous or None, max_body_bytes=max_bytes,
        asset_events=mode, personal_data=_flag(extra, "personal_data"),
        anonymous_url_check=_flag(extra, "anonymous_url_check"),
    )


def _flag(extra: dict[str, Any], key: str) -> bool:
    value = extra.get(key, False)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValidationError(f"Connection extra {key!r} must be true or false, got {value!r}", vendor=_VENDOR)
    return value


class MensatekReportsHook(BaseHook):
    """The credential Mensatek's panel sends with real-time reports, and the receiver's options.

    :param mensatek_reports_conn_id: the Airflow connection id (default ``mensatek_reports_default``).
    """

    conn_name_attr = "mensatek_reports_conn_id"
    default_conn_name = "mensatek_reports_default"
    conn_type = "mensatek_reports"
    hook_name = "Mensatek real-time reports (receiver)"

    def __init__(self, mensatek_reports_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mensatek_reports_conn_id = mensatek_reports_conn_id

    def __repr__(self) -> str:
        return f"MensatekReportsHook(mensatek_reports_conn_id={self.mensatek_reports_conn_id!r})"

    def get_conn(self) -> ReceiverSettings:
        conn = self.get_connection(self.mensatek_reports_conn_id)
        settings = receiver_settings(conn)
        for secret in settings.passwords:
            mask_credential(secret, user=settings.user)
        return settings
