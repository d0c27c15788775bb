"""The LegallyMail REST SDK: :class:`LegallyMailClient` and its typed results, one module per API surface."""

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
