"""The LegallyMail REST SDK: :class:`LegallyMailClient` and its typed results, one module per API surface."""

from typing import TYPE_CHECKING

from airflow_provider_mensatek._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_mensatek.clients.legallymail._core import DownloadedFile
    from airflow_provider_mensatek.clients.legallymail.account import AccountInfo
    from airflow_provider_mensatek.clients.legallymail.checks import Signer
    from airflow_provider_mensatek.clients.legallymail.client import LegallyMailClient
    from airflow_provider_mensatek.clients.legallymail.email import (
        CertifiedEmailSendResult,
        EmailCertificate,
        EmailRecipientStatus,
        EmailStatus,
        EmailSummary,
        RecipientSendStatus,
    )
    from airflow_provider_mensatek.clients.legallymail.signature import (
        SignatureRequestResult,
        SignatureStatus,
        SignatureSummary,
        SignerStatus,
    )
    from airflow_provider_mensatek.clients.legallymail.sms import SmsSendResult, SmsStatus

# Imported on first use (PEP 562), so that importing one module of the package costs only that module.
__getattr__, __dir__ = lazy_exports(__name__, {
    "AccountInfo": "airflow_provider_mensatek.clients.legallymail.account",
    "CertifiedEmailSendResult": "airflow_provider_mensatek.clients.legallymail.email",
    "DownloadedFile": "airflow_provider_mensatek.clients.legallymail._core",
    "EmailCertificate": "airflow_provider_mensatek.clients.legallymail.email",
    "EmailRecipientStatus": "airflow_provider_mensatek.clients.legallymail.email",
    "EmailStatus": "airflow_provider_mensatek.clients.legallymail.email",
    "EmailSummary": "airflow_provider_mensatek.clients.legallymail.email",
    "LegallyMailClient": "airflow_provider_mensatek.clients.legallymail.client",
    "RecipientSendStatus": "airflow_provider_mensatek.clients.legallymail.email",
    "SignatureRequestResult": "airflow_provider_mensatek.clients.legallymail.signature",
    "SignatureStatus": "airflow_provider_mensatek.clients.legallymail.signature",
    "SignatureSummary": "airflow_provider_mensatek.clients.legallymail.signature",
    "Signer": "airflow_provider_mensatek.clients.legallymail.checks",
    "SignerStatus": "airflow_provider_mensatek.clients.legallymail.signature",
    "SmsSendResult": "airflow_provider_mensatek.clients.legallymail.sms",
    "SmsStatus": "airflow_provider_mensatek.clients.legallymail.sms",
})

__all__ = [
    "AccountInfo",
    "CertifiedEmailSendResult",
    "DownloadedFile",
    "EmailCertificate",
    "EmailRecipientStatus",
    "EmailStatus",
    "EmailSummary",
    "LegallyMailClient",
    "RecipientSendStatus",
    "SignatureRequestResult",
    "SignatureStatus",
    "SignatureSummary",
    "Signer",
    "SignerStatus",
    "SmsSendResult",
    "SmsStatus",
]
