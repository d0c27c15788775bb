"""MensatekHook: an Airflow Connection -> a :class:`MensatekClient`. Thin by design."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_mensatek.clients.errors import MensatekError, ValidationError
from airflow_provider_mensatek.clients.mensatek.wire import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.mensatek.client import MensatekClient


class MensatekHook(BaseHook):
    """Interact with the Mensatek API v7 (certified email, SMS, email, RCS).

    Connection: *login* = API User, *password* = API Token, *host* = base URL
    (optional; default ``https://api.mensatek.com/v7``; plain ``http://`` only
    for loopback hosts such as the sandbox), or the URI form
    ``mensatek://user:token@host:port/path`` (port and path kept; add
    ``?scheme=http`` for a loopback sandbox). Extras: ``connect_timeout``,
    ``read_timeout``, ``deadline``, ``max_retries``, ``max_retry_wait``,
    ``max_response_bytes``, ``scheme`` (see the README).

    :param mensatek_conn_id: the Airflow connection id (default ``mensatek_default``).
    """

    conn_name_attr = "mensatek_conn_id"
    default_conn_name = "mensatek_default"
    conn_type = "mensatek"
    hook_name = "Mensatek"

    def __init__(self, mensatek_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mensatek_conn_id = mensatek_conn_id
        self._conn: Any = None

    def __repr__(self) -> str:
        return f"MensatekHook(mensatek_conn_id={self.mensatek_conn_id!r})"

    @cached_property
    def client(self) -> MensatekClient:
        return self.get_conn()

    def get_conn(self) -> MensatekClient:
        self._conn = self.get_connection(self.mensatek_conn_id)
        return self.client_for(self._conn)

    def reports_configured(self) -> bool:
        """Whether the connection says Mensatek sends this deployment its real-time reports (extra ``reports``)."""
        return reports_configured(self._conn if self._conn is not None else
                                  self.get_connection(self.mensatek_conn_id))

    def client_for(self, conn: Any) -> MensatekClient:
        """A client of ``conn`` (an Airflow Connection already read)."""
        # The client and its transport (requests, urllib3) are imported here: a DAG file that only
        # names the hook does not pay for them at every parse.
        from airflow_provider_mensatek.clients.mensatek.client import MensatekClient
        from airflow_provider_mensatek.hooks._connection import connection_settings, mask_credential

        mask_credential(conn.password, user=conn.login)
        settings = connection_settings(conn, vendor="mensatek", default_url=DEFAULT_BASE_URL)
        return MensatekClient(
            conn.login or "",
            conn.password or "",
            base_url=settings.base_url,
            timeouts=settings.timeouts,
            retry=settings.retry,
            max_response_bytes=settings.max_response_bytes,
            **settings.network,
        )

    def test_connection(self) -> tuple[bool, str]:
        """One credits call, never in a loop (the vendor counts failed logins as spam)."""
        try:
            credits = self.get_conn().get_credits()
        except MensatekError as exc:
            return False, str(exc)
        return True, f"Connection successful: {credits:g} credits left"


def reports_configured(conn: Any) -> bool:
    """The connection's extra ``reports``: true when the Mensatek panel sends real-time reports to the receiver.

    Then the sends ask for reports (``Report=1``) and the waits listen to them
    (``wait_for="auto"``). Only a boolean, or the text ``true`` / ``false`` of the URI
    form, is accepted: a typo must not silently turn reports off.
    """
    value = (conn.extra_dejson or {}).get("reports")
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"Connection extra 'reports' must be true or false, got {value!r}", vendor="mensatek")
