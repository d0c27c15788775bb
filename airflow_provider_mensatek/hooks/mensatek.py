"""MensatekHook: an Airflow Connection -> a :class:`MensatekClient`. Thin by design."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_mensatek.clients._transport import RetrySettings, Timeouts
from airflow_provider_mensatek.clients.errors import MensatekError
from airflow_provider_mensatek.clients.mensatek import MensatekClient


def settings_from_extra(extra: dict[str, Any]) -> tuple[Timeouts, RetrySettings]:
    """Timeouts and retry settings from a connection's extra (the conn-fields of get_provider_info)."""
    defaults_t, defaults_r = Timeouts(), RetrySettings()
    timeouts = Timeouts(
        connect=float(extra.get("connect_timeout") or defaults_t.connect),
        read=float(extra.get("read_timeout") or defaults_t.read),
    )
    max_wait = extra.get("max_retry_wait")
    retry = RetrySettings(
        max_attempts=_positive_int(extra.get("max_retries"), defaults_r.max_attempts),
        max_retry_wait=float(max_wait) if max_wait is not None else defaults_r.max_retry_wait,
    )
    return timeouts, retry


def _positive_int(value: Any, default: int) -> int:
    """``max_retries`` counts attempts: 0 or 1 both mean "one attempt, no retry"."""
    return default if value is None or value == "" else max(1, int(value))


class MensatekHook(BaseHook):
    """Interact with the Mensatek API v7 (certified email, SMS, email, RCS).

    Connection: *login* = API User, *password* = API Token, *host* = base URL
    (optional; default ``https://api.mensatek.com/v7``; plain ``http://`` only
    for loopback hosts such as the sandbox).

    :param mensatek_conn_id: the Airflow connection id (default ``mensatek_default``).
    """

    conn_name_attr = "mensatek_conn_id"
    default_conn_name = "mensatek_default"
    conn_type = "mensatek"
    hook_name = "Mensatek"

    def __init__(self, mensatek_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mensatek_conn_id = mensatek_conn_id

    def __repr__(self) -> str:
        return f"MensatekHook(mensatek_conn_id={self.mensatek_conn_id!r})"

    @cached_property
    def client(self) -> MensatekClient:
        return self.get_conn()

    def get_conn(self) -> MensatekClient:
        conn = self.get_connection(self.mensatek_conn_id)
        if conn.password:
            # Airflow masks connection passwords already; say it explicitly so a
            # custom secrets backend or a log of the raw extra cannot leak the token.
            mask_secret(conn.password)
        timeouts, retry = settings_from_extra(conn.extra_dejson or {})
        return MensatekClient(
            conn.login or "",
            conn.password or "",
            base_url=conn.host or None,
            timeouts=timeouts,
            retry=retry,
        )

    def test_connection(self) -> tuple[bool, str]:
        """One credits call, never in a loop (the vendor counts failed logins as spam)."""
        try:
            credits = self.get_conn().get_credits()
        except MensatekError as exc:
            return False, str(exc)
        return True, f"Connection successful: {credits:g} credits left"
