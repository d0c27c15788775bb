"""Airflow-free vendor clients (usable from plain Python). Nothing here imports Airflow."""

from airflow_provider_mensatek.clients._transport import RetrySettings, Timeouts, reset_auth_failures
from airflow_provider_mensatek.clients.legallymail import LegallyMailClient
from airflow_provider_mensatek.clients.mensatek import MensatekClient

__all__ = ["LegallyMailClient", "MensatekClient", "RetrySettings", "Timeouts", "reset_auth_failures"]
