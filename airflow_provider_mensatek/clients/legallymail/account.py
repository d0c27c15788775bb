"""The LegallyMail account: ``GET /info``."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_mensatek.clients._wire import _Jsonable, as_int
from airflow_provider_mensatek.clients.legallymail._core import LegallyMailCore
from airflow_provider_mensatek.clients.legallymail.checks import (
    _text,
)


@dataclass(frozen=True)
class AccountInfo(_Jsonable):
    api_name: str | None
    api_version: str | None
    email: str | None
    name: str | None
    plan: str | None
    plan_name: str | None
    plan_limit: int | None
    extra_emails: int | None
    remaining_emails: int | None


class AccountApi(LegallyMailCore):
    """The account and its plan."""

    def get_info(self) -> AccountInfo:
        """``GET /info``: the account, its plan and the emails left. The connection test uses it."""
        answer = self.call("GET", "info")
        user = answer.get("user") or {}
        return AccountInfo(
            api_name=_text(answer.get("name")), api_version=_text(answer.get("version")),
            email=_text(user.get("email")), name=_text(user.get("name")), plan=_text(user.get("plan")),
            plan_name=_text(user.get("plan_name")), plan_limit=as_int(user.get("plan_limit")),
            extra_emails=as_int(user.get("extra_emails")), remaining_emails=as_int(user.get("remaining_emails")),
        )
