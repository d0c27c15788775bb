"""The call every Mensatek API surface makes: credentials, transport, ``Res`` checking, cancel.

Each surface module (:mod:`.certified_email`, :mod:`.sms`, :mod:`.files`, :mod:`.email`,
:mod:`.rcs`, :mod:`.account`) adds its methods to :class:`MensatekCore`;
:class:`~airflow_provider_mensatek.clients.mensatek.client.MensatekClient` composes them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from airflow_provider_mensatek.clients._http.credentials import BasicAuth
from airflow_provider_mensatek.clients._http.egress import Egress
from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
    SEND,
    RetrySettings,
    Timeouts,
    Transport,
    TransportClient,
    ambiguous_send_text,
    credential_key,
    resolve_base_url,
)
from airflow_provider_mensatek.clients._local_files import LocalFileAccess
from airflow_provider_mensatek.clients._wire import _Jsonable, as_float, as_int
from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AmbiguousSendError,
    AuthenticationError,
    InvalidRequestError,
    MensatekError,
    ValidationError,
)
from airflow_provider_mensatek.clients.mensatek.wire import DEFAULT_BASE_URL, FUNCTIONS, RES_ERRORS, parse_mensatek_body
from airflow_provider_mensatek.clients.validation import (
    check_message_id,
)

log = logging.getLogger("airflow_provider_mensatek.clients.mensatek")


@dataclass(frozen=True)
class CancelResult(_Jsonable):
    message_id: int
    cancelled: int
    already_cancelled: bool
    credits_left: float | None
    credits_recovered: float | None


@dataclass(frozen=True)
class RescheduleResult(_Jsonable):
    message_id: int
    send_at: str
    rescheduled: int
    credits_left: float | None


class MensatekCore(TransportClient, LocalFileAccess):
    """The plumbing shared by every API surface (HTTP Basic: API user + API token)."""

    vendor = "mensatek"

    def __init__(
        self,
        api_user: str,
        api_token: str,
        *,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
        proxy: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        self.allowed_roots = allowed_roots
        if not api_user or not api_token:
            raise ValidationError("Mensatek needs both the API user (login) and the API token (password)")
        self.api_user = api_user
        self.base_url = resolve_base_url(base_url, default=DEFAULT_BASE_URL)
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.transport = Transport(
            vendor=self.vendor,
            base_url=self.base_url,
            auth=BasicAuth(api_user, api_token),
            secret=api_token,
            user=api_user,
            credential_id=credential_key(self.vendor, self.base_url, api_user, api_token),
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            session=session,
            egress=Egress.of(proxy, ca_bundle, vendor=self.vendor),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"MensatekClient(api_user={self.api_user!r}, base_url={self.base_url!r})"

    # -- plumbing ------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        kind: str = SAFE,
        reference: str | None = None,
    ) -> dict[str, Any]:
        """POST one function and return its normalised answer; negative ``Res`` raises.

        ``method`` is a key of :data:`FUNCTIONS` (our name), so every call site
        goes through the one table of vendor names.
        """
        function = FUNCTIONS[method]
        body = {**(params or {}), "Resp": "JSON"}
        try:
            # Mensatek refuses a credential inside a 200 answer (Res -1): the gate spans the reading too.
            with self.transport.first_use():
                response = self.transport.request(
                    "POST", function, function=function, kind=kind, json=body, reference=reference
                )
                return self._check(function, response)
        except MensatekError as exc:
            if kind == SEND and exc.code == "parse":
                # The request arrived and was answered; what it did is unknown.
                raise AmbiguousSendError(
                    ambiguous_send_text(f"its answer could not be read ({exc.message})", reference),
                    function=function, code="parse", reference=reference,
                ) from None
            raise

    def _check(self, function: str, response: requests.Response) -> dict[str, Any]:
        text = response.text
        if response.status_code >= 400:
            # 401, 429 and 5xx are the transport's; any other 4xx is a refusal of the request.
            raise InvalidRequestError(
                f"The vendor refused the request (HTTP {response.status_code}): "
                f"{self.transport.redact(text)[:200]}",
                function=function, code=response.status_code,
            )
        try:
            record = parse_mensatek_body(text)
        except ValueError:
            raise MensatekError(
                f"Unreadable answer (not JSON): {self.transport.redact(text)[:200]!r}", function=function,
                code="parse",
            ) from None
        # An accepted answer may echo the credential too, and what the client returns reaches XCom.
        record = self.transport.redact_answer(record)
        self._raise_for_res(function, record)
        return record

    def _raise_for_res(self, function: str, record: Mapping[str, Any]) -> None:
        res = as_int(record.get("res"))
        if res is None:
            raise MensatekError("Answer without a Res field", function=function, code="parse")
        if res >= 0:
            return
        # A negative Res is the vendor refusing the call, documented or not.
        error_class, text = RES_ERRORS.get(function, {}).get(
            res, (InvalidRequestError, "Undocumented error code")
        )
        vendor_text = record.get("error")
        message = f"{text}: {vendor_text}" if vendor_text else text
        error = error_class(self.transport.redact(message), function=function, code=res,
                            details={k: v for k, v in record.items() if k != "error"})
        if isinstance(error, AuthenticationError):
            self.transport.remember_auth_failure(error)
        raise error

    def _cancel(self, method: str, message_id: int, what: str) -> CancelResult:
        """Shared by the channels whose cancel functions answer alike (CancelarSMS's documented codes)."""
        mid = check_message_id(message_id)
        try:
            record = self.call(method, {"Idmensaje": mid})
        except AlreadyCancelledError as exc:
            log.info("%s %s was already cancelled; nothing to do", what, mid)
            return CancelResult(message_id=mid, cancelled=0, already_cancelled=True,
                                credits_left=as_float(exc.details.get("cred")), credits_recovered=None)
        return CancelResult(
            message_id=as_int(record.get("idmensaje"), mid) or mid,
            cancelled=as_int(record.get("res"), 0) or 0,
            already_cancelled=False,
            credits_left=as_float(record.get("cred")),
            credits_recovered=as_float(record.get("credr")),
        )
