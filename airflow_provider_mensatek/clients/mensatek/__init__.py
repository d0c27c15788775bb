"""The Mensatek API v7 SDK: :class:`MensatekClient` and its typed results, one module per API surface."""

from typing import TYPE_CHECKING

from airflow_provider_mensatek._lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (PEP 562), so that importing one module of the package costs only that module.
__getattr__, __dir__ = lazy_exports(__name__, {
    "CampaignRecipient": "airflow_provider_mensatek.clients.mensatek._email_and_rcs",
    "CampaignSendResult": "airflow_provider_mensatek.clients.mensatek._email_and_rcs",
    "CancelResult": "airflow_provider_mensatek.clients.mensatek._core",
    "CertifiedEmailReport": "airflow_provider_mensatek.clients.mensatek.certified_email",
    "CertifiedEmailSendResult": "airflow_provider_mensatek.clients.mensatek.certified_email",
    "DeleteFileResult": "airflow_provider_mensatek.clients.mensatek.files",
    "DownloadResult": "airflow_provider_mensatek.clients.mensatek.certified_email",
    "LibraryFile": "airflow_provider_mensatek.clients.mensatek.files",
    "MensatekClient": "airflow_provider_mensatek.clients.mensatek.client",
    "RcsTemplate": "airflow_provider_mensatek.clients.mensatek.rcs",
    "RcsTemplateVariable": "airflow_provider_mensatek.clients.mensatek.rcs",
    "RecipientResult": "airflow_provider_mensatek.clients.mensatek.certified_email",
    "RescheduleResult": "airflow_provider_mensatek.clients.mensatek._core",
    "SmsReport": "airflow_provider_mensatek.clients.mensatek.sms",
    "SmsReportEntry": "airflow_provider_mensatek.clients.mensatek.sms",
    "SmsSendResult": "airflow_provider_mensatek.clients.mensatek.sms",
    "UploadResult": "airflow_provider_mensatek.clients.mensatek.files",
})

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
