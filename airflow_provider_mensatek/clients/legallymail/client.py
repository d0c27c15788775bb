"""LegallyMailClient: one method per LegallyMail REST endpoint, typed results.

Contract: ``vendor-docs/legallymail.txt``. Each API surface is a module of this package
(:mod:`.email`, :mod:`.signature`, :mod:`.sms`, :mod:`.account`); :mod:`._core` holds what
they share (Bearer auth, the rate limit, the error mapping, downloads) and says how.
"""

from __future__ import annotations

from airflow_provider_mensatek.clients.legallymail.account import AccountApi
from airflow_provider_mensatek.clients.legallymail.email import EmailApi
from airflow_provider_mensatek.clients.legallymail.signature import SignatureApi
from airflow_provider_mensatek.clients.legallymail.sms import SmsApi


class LegallyMailClient(EmailApi, SignatureApi, SmsApi, AccountApi):
    """Airflow-free client for the LegallyMail REST API (Bearer token).

    ``allowed_roots``: the local folders attachments and signature documents may
    be read from (none by default: local paths are refused until you name them).
    """
