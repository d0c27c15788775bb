"""Airflow-free vendor clients (usable from plain Python). Nothing here imports Airflow."""

from airflow_provider_mensatek.clients._http.credentials import remember_auth_failure, remembered_auth_failure
from airflow_provider_mensatek.clients._http.transport import RetrySettings, Timeouts, reset_auth_failures
from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
from airflow_provider_mensatek.clients.mensatek.client import MensatekClient

__all__ = [
    "LegallyMailClient",
    "MensatekClient",
    "RetrySettings",
    "Timeouts",
    "remember_auth_failure",
    "remembered_auth_failure",
    "reset_auth_failures",
]
