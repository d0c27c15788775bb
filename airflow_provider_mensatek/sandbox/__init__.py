"""Local emulator of the Mensatek and LegallyMail APIs (loopback only, no account needed).

Run it with ``python -m airflow_provider_mensatek.sandbox --port 8765`` or start it
in-process::

    from airflow_provider_mensatek.sandbox import Sandbox
    with Sandbox() as sandbox:
        print(sandbox.mensatek_url)
"""

from airflow_provider_mensatek.sandbox import legallymail as _legallymail  # noqa: F401  (registers the app)
from airflow_provider_mensatek.sandbox import legallymail_routes as _legallymail_routes  # noqa: F401  (its endpoints)
from airflow_provider_mensatek.sandbox import mensatek as _mensatek  # noqa: F401  (registers the app)
from airflow_provider_mensatek.sandbox import mensatek_channels as _channels  # noqa: F401  (SMS, email, RCS)
from airflow_provider_mensatek.sandbox import reports as _reports  # noqa: F401  (report pushes)
from airflow_provider_mensatek.sandbox.report_config import ReportConfig
from airflow_provider_mensatek.sandbox.server import (
    DEFAULT_LEGALLYMAIL_TOKEN,
    DEFAULT_MENSATEK_TOKEN,
    DEFAULT_MENSATEK_USER,
    Clock,
    Fault,
    RecordedRequest,
    Sandbox,
)

__all__ = [
    "DEFAULT_LEGALLYMAIL_TOKEN",
    "DEFAULT_MENSATEK_TOKEN",
    "DEFAULT_MENSATEK_USER",
    "Clock",
    "Fault",
    "RecordedRequest",
    "ReportConfig",
    "Sandbox",
]
