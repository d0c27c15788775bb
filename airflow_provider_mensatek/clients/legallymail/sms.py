"""LegallyMail certified SMS: ``POST /sms/send``, ``GET /sms``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mensatek.clients._http.transport import (
    SEND,
)
from airflow_provider_mensatek.clients._removed_names import STATE, RemovedNames
from airflow_provider_mensatek.clients._wire import _Jsonable, as_int
from airflow_provider_mensatek.clients.legallymail._core import LegallyMailCore
from airflow_provider_mensatek.clients.legallymail.checks import (
    MAX_SMS_CHARS,
    VENDOR,
    _invalid,
    _text,
    check_identifier,
    check_phone,
)
from airflow_provider_mensatek.clients.validation import (
    require_text,
)


@dataclass(frozen=True)
class SmsSendResult(_Jsonable):
    uuid: str
    status: str | None
    credits_deducted: int | None
    message: str | None
    phone: str


@dataclass(frozen=True)
class SmsStatus(RemovedNames, _Jsonable):
    REMOVED = STATE
    uuid: str
    recipient: str | None
    message: str | None
    status: str | None
    credits: int | None
    sent_at: str | None
    delivered_at: str | None
    failed_at: str | None
    ts_confirmed_at: str | None
    download_certificate_url: str | None


class SmsApi(LegallyMailCore):
    """Certified SMS."""

    def build_sms_body(self, phone: str, message: str) -> dict[str, Any]:
        number = check_phone(phone)
        text = require_text(message, "message", vendor=VENDOR)
        if len(text) > MAX_SMS_CHARS:
            raise _invalid(f"The SMS is {len(text)} characters; a certified SMS holds at most {MAX_SMS_CHARS}")
        return {"phone": number, "message": text}

    def send_certified_sms(self, phone: str, message: str) -> SmsSendResult:
        """``POST /sms/send``: one certified SMS (up to 300 characters, 1 credit)."""
        body = self.build_sms_body(phone, message)
        answer = self.call("POST", "sms/send", kind=SEND, json=body,
                           look_for=f"a certified SMS to {body['phone']}")
        # Documented flat; accept a "data" wrapper too, like the other sends.
        wrapped = answer.get("data")
        data: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else answer
        uuid = _text(data.get("uuid"))
        if not uuid:
            raise self._accepted_but_unreadable("sms/send", "the answer has no uuid",
                                                f"a certified SMS to {body['phone']}")
        return SmsSendResult(uuid=uuid, status=_text(data.get("status")),
                             credits_deducted=as_int(data.get("credits_deducted")),
                             message=_text(answer.get("message")), phone=body["phone"])

    def get_sms(self, uuid: str) -> SmsStatus:
        """``GET /sms?uuid=``: delivery and certification of a certified SMS."""
        uid = check_identifier(uuid, "uuid")
        answer = self.call("GET", "sms", params={"uuid": uid})
        data = answer.get("data") or {}
        return SmsStatus(
            uuid=str(data.get("uuid") or uid), recipient=_text(data.get("recipient")),
            message=_text(data.get("message")), status=_text(data.get("status")),
            credits=as_int(data.get("credits")), sent_at=_text(data.get("sent_at")),
            delivered_at=_text(data.get("delivered_at")), failed_at=_text(data.get("failed_at")),
            ts_confirmed_at=_text(data.get("ts_confirmed_at")),
            download_certificate_url=_text(data.get("download_certificate_url")),
        )
