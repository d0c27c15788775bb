"""The Mensatek API v7 SDK: :class:`MensatekClient` and its typed results, one module per API surface."""

from airflow_provider_mensatek.clients.mensatek._core import CancelResult, RescheduleResult
from airflow_provider_mensatek.clients.mensatek._email_and_rcs import CampaignRecipient, CampaignSendResult
from airflow_provider_mensatek.clients.mensatek.certified_email import (
    CertifiedEmailReport,
    CertifiedEmailSendResult,
    DownloadResult,
    RecipientResult,
)
from airflow_provider_mensatek.clients.mensatek.client import MensatekClient
from airflow_provider_mensatek.clients.mensatek.files import DeleteFileResult, LibraryFile, UploadResult
from airflow_provider_mensatek.clients.mensatek.rcs import RcsTemplate, RcsTemplateVariable
from airflow_provider_mensatek.clients.mensatek.sms import SmsReport, SmsReportEntry, SmsSendResult

__all__ = [
    "CampaignRecipient",
    "CampaignSendResult",
    "CancelResult",
    "CertifiedEmailReport",
    "CertifiedEmailSendResult",
    "DeleteFileResult",
    "DownloadResult",
    "LibraryFile",
    "MensatekClient",
    "RcsTemplate",
    "RcsTemplateVariable",
    "RecipientResult",
    "RescheduleResult",
    "SmsReport",
    "SmsReportEntry",
    "SmsSendResult",
    "UploadResult",
]
