"""Airflow-free vendor clients (usable from plain Python). Nothing here imports Airflow.

The names below are imported on first use (PEP 562): importing a light module of
this package (errors, validation) must not import ``requests`` and the clients.
"""

from typing import TYPE_CHECKING

from airflow_provider_mensatek._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients._http.credentials import remember_auth_failure, remembered_auth_failure
    from airflow_provider_mensatek.clients._http.transport import RetrySettings, Timeouts, reset_auth_failures
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
    from airflow_provider_mensatek.clients.mensatek.client import MensatekClient

__getattr__, __dir__ = lazy_exports(__name__, {
    "LegallyMailClient": "airflow_provider_mensatek.clients.legallymail.client",
    "MensatekClient": "airflow_provider_mensatek.clients.mensatek.client",
    "RetrySettings": "airflow_provider_mensatek.clients._http.transport",
    "Timeouts": "airflow_provider_mensatek.clients._http.transport",
    "remember_auth_failure": "airflow_provider_mensatek.clients._http.credentials",
    "remembered_auth_failure": "airflow_provider_mensatek.clients._http.credentials",
    "reset_auth_failures": "airflow_provider_mensatek.clients._http.transport",
})

__all__ = [
    "LegallyMailClient",
    "MensatekClient",
    "RetrySettings",
    "Timeouts",
    "remember_auth_failure",
    "remembered_auth_failure",
    "reset_auth_failures",
]
