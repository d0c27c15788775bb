"""MensatekClient: one method per Mensatek API v7 function, typed results.

Each API surface is a module of this package (certified email, SMS, the file
library, email, RCS, the account); the vendor's wire quirks and ``Res`` tables are
in :mod:`.wire` and the call they all make in :mod:`._core`.
"""

from __future__ import annotations

from airflow_provider_mensatek.clients.mensatek.account import AccountApi
from airflow_provider_mensatek.clients.mensatek.certified_email import CertifiedEmailApi
from airflow_provider_mensatek.clients.mensatek.email import EmailApi
from airflow_provider_mensatek.clients.mensatek.files import FilesApi
from airflow_provider_mensatek.clients.mensatek.rcs import RcsApi
from airflow_provider_mensatek.clients.mensatek.sms import SmsApi


class MensatekClient(CertifiedEmailApi, SmsApi, FilesApi, EmailApi, RcsApi, AccountApi):
    """Airflow-free client for the Mensatek API v7 (HTTP Basic: API user + API token).

    ``allowed_roots``: the local folders attachments and library uploads may be
    read from (none by default: local paths are refused until you name them).
    """
