"""LegallyMailHook: an Airflow Connection -> a :class:`LegallyMailClient`. Thin by design."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_mensatek.clients.errors import MensatekError
from airflow_provider_mensatek.clients.legallymail.checks import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RECIPIENTS,
    LEGALLYMAIL_REQUESTS_PER_MINUTE,
)

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient


class LegallyMailHook(BaseHook):
    """Interact with the LegallyMail API (certified email, e-signature, certified SMS).

    Connection: *password* = API token (sent only as ``Authorization: Bearer``),
    *host* = base URL (optional; default ``https://legallymail.com/api``; plain
    ``http://`` only for loopback hosts such as the sandbox), or the URI form
    ``legallymail://:token@host:port/path`` (port and path kept; ``?scheme=http``
    for a loopback sandbox). Extras: ``requests_per_minute`` (default 10, the
    vendor's limit; shared by every client of the token in the process),
    ``max_recipients`` (default 10; raise it only if LegallyMail raised your
    account's limit), ``connect_timeout``, ``read_timeout``, ``deadline``,
    ``max_retries``, ``max_retry_wait``, ``max_response_bytes``, ``scheme``.

    :param legallymail_conn_id: the Airflow connection id (default ``legallymail_default``).
    """

    conn_name_attr = "legallymail_conn_id"
    default_conn_name = "legallymail_default"
    conn_type = "legallymail"
    hook_name = "LegallyMail"

    def __init__(self, legallymail_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.legallymail_conn_id = legallymail_conn_id

    def __repr__(self) -> str:
        return f"LegallyMailHook(legallymail_conn_id={self.legallymail_conn_id!r})"

    @cached_property
    def client(self) -> LegallyMailClient:
        return self.get_conn()

    def get_conn(self) -> LegallyMailClient:
        return self.client_for(self.get_connection(self.legallymail_conn_id))

    def client_for(self, conn: Any) -> LegallyMailClient:
        """A client of ``conn`` (an Airflow Connection already read)."""
        # The client and its transport (requests, urllib3) are imported here: a DAG file that only
        # names the hook does not pay for them at every parse.
        from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
        from airflow_provider_mensatek.hooks._connection import connection_settings, extra_number, mask_credential

        mask_credential(conn.password)
        settings = connection_settings(conn, vendor="legallymail", default_url=DEFAULT_BASE_URL)
        extra = conn.extra_dejson or {}
        return LegallyMailClient(
            conn.password or "",
            base_url=settings.base_url,
            requests_per_minute=extra_number(extra, "requests_per_minute", LEGALLYMAIL_REQUESTS_PER_MINUTE,
                                             vendor="legallymail"),
            max_recipients=int(extra_number(extra, "max_recipients", DEFAULT_MAX_RECIPIENTS, vendor="legallymail",
                                            whole=True)),
            timeouts=settings.timeouts,
            retry=settings.retry,
            max_response_bytes=settings.max_response_bytes,
            **settings.network,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Exactly one ``GET /info``, never in a loop (a bad token is remembered, not retried)."""
        try:
            info = self.get_conn().get_info()
        except MensatekError as exc:
            return False, str(exc)
        plan = info.plan_name or info.plan or "unknown plan"
        return True, f"Connection successful: {info.email} ({plan}), {info.remaining_emails} emails left"
