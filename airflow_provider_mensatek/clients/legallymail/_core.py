"""The call every LegallyMail API surface makes: auth, rate limit, error mapping, downloads.

Contract: ``vendor-docs/legallymail.txt``. What is handled here and nowhere else:

* the token travels only in ``Authorization: Bearer`` (never in the body or
  the URL, both of which the vendor also accepts and both of which end up in
  access logs);
* answers are JSON objects with ``success`` (``/info`` has none); sends wrap
  their answer in ``data``, except ``/sms/send`` which answers flat;
* errors are HTTP statuses: 400 -> :class:`InvalidRequestError` with the
  vendor's message, 401 -> :class:`AuthenticationError` (the transport never
  retries it and remembers it), 403 -> :class:`ForbiddenError` or, when the
  body talks about credits / remaining emails, :class:`InsufficientCreditsError`,
  404 -> :class:`NotFoundError`, 429 -> :class:`RateLimitedError` (retried after
  ``Retry-After``), 5xx -> transient on reads, :class:`AmbiguousSendError` on sends;
* the documented 10 requests/minute: every request first takes a slot from the
  process-wide :class:`~airflow_provider_mensatek.clients._http.rate_limit.RateLimiter`
  of the token, so the client waits instead of collecting 429s.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import requests

from airflow_provider_mensatek.clients._http.credentials import BearerAuth
from airflow_provider_mensatek.clients._http.egress import Egress
from airflow_provider_mensatek.clients._http.limits import DEFAULT_MAX_RESPONSE_BYTES
from airflow_provider_mensatek.clients._http.rate_limit import RateLimiter, limiter_for
from airflow_provider_mensatek.clients._http.transport import (
    SAFE,
    SEND,
    RetrySettings,
    Timeouts,
    Transport,
    TransportClient,
    credential_key,
    resolve_base_url,
)
from airflow_provider_mensatek.clients._local_files import LocalFileAccess
from airflow_provider_mensatek.clients._wire import _Jsonable
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CertificateError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidRequestError,
    MensatekError,
    NotFoundError,
    ValidationError,
)
from airflow_provider_mensatek.clients.legallymail.checks import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RECIPIENTS,
    LEGALLYMAIL_REQUESTS_PER_MINUTE,
    MAX_DOWNLOAD_BYTES,
    VENDOR,
    _invalid,
)
from airflow_provider_mensatek.clients.validation import (
    check_int_range,
)

log = logging.getLogger("airflow_provider_mensatek.clients.legallymail")


#: The vendor's 401 text ("Token inválido o no proporcionado") and what it answers with a 200.
_AUTH_FAILURE_RE = re.compile(r"\btoken\b.{0,40}\b(inv[aá]lid|no proporcionado|missing|expired|revoked)|"
                              r"\b(invalid|inv[aá]lido|missing|expired|revoked)\b.{0,20}\btoken\b|"
                              r"\bunauthori[sz]ed\b|\bunauthenticated\b|\bno autorizado\b", re.IGNORECASE)
_CREDITS_RE = re.compile(r"cr[ée]dit|quota|remaining|restantes|saldo|balance|l[ií]mite del plan", re.IGNORECASE)


@dataclass(frozen=True)
class DownloadedFile(_Jsonable):
    url: str
    bytes_written: int
    content_type: str | None


class LegallyMailCore(TransportClient, LocalFileAccess):
    """The plumbing shared by every API surface (Bearer token)."""

    vendor = VENDOR

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        requests_per_minute: float = LEGALLYMAIL_REQUESTS_PER_MINUTE,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
        proxy: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        self.allowed_roots = allowed_roots
        if not isinstance(token, str) or not token.strip():
            raise ValidationError("LegallyMail needs the API token (the connection's password)", vendor=VENDOR)
        self.base_url = resolve_base_url(base_url, default=DEFAULT_BASE_URL)
        self.max_recipients = check_int_range(max_recipients, "max_recipients", 1, 10_000, vendor=VENDOR)
        credential_id = credential_key(self.vendor, self.base_url, token)
        self.rate_limiter = rate_limiter or limiter_for(credential_id, requests_per_minute)
        kwargs: dict[str, Any] = {"egress": Egress.of(proxy, ca_bundle, vendor=VENDOR)}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.transport = Transport(
            vendor=self.vendor,
            base_url=self.base_url,
            auth=BearerAuth(token.strip()),
            secret=token.strip(),
            credential_id=credential_id,
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            before_request=self._take_slot,
            session=session,
            **kwargs,
        )
        origin = urlsplit(self.base_url)
        # Download URLs live outside /api on the same host: a second transport rooted at the
        # origin, sharing the session, the credential's auth memory and the rate limiter.
        self._files = Transport(
            vendor=self.vendor,
            base_url=f"{origin.scheme}://{origin.netloc}",
            auth=BearerAuth(token.strip()),
            secret=token.strip(),
            credential_id=credential_id,
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
            before_request=self._take_slot,
            session=self.transport.session,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"LegallyMailClient(base_url={self.base_url!r})"

    def _take_slot(self) -> None:
        self.rate_limiter.acquire()

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str = SAFE,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        look_for: str | None = None,
    ) -> dict[str, Any]:
        """One request; returns the decoded JSON object or raises the mapped error.

        ``look_for`` says, on an ambiguous send, what to look for in the
        vendor's dashboard (LegallyMail has no client reference field).
        """
        function = path.strip("/")
        # LegallyMail may refuse a token inside a 200 answer: the gate spans the reading too.
        with self.transport.first_use():
            try:
                response = self.transport.request(method, path, function=function, kind=kind, json=json,
                                                  params=params)
            except AmbiguousSendError as exc:
                if look_for is None:
                    raise
                raise AmbiguousSendError(
                    f"{exc.message} Look in the LegallyMail dashboard for {look_for}.", vendor=VENDOR,
                    function=function, code=exc.code,
                ) from None
            try:
                return self._check(function, response)
            except MensatekError as exc:
                if kind == SEND and exc.code == "parse":
                    raise self._accepted_but_unreadable(function, exc.message, look_for) from None
                raise

    @staticmethod
    def _accepted_but_unreadable(function: str, what: str, look_for: str | None) -> AmbiguousSendError:
        """A 2xx answer to a send that we cannot read: it may have been sent; never retried."""
        where = f" Look in the LegallyMail dashboard for {look_for}." if look_for else ""
        return AmbiguousSendError(
            f"The send may have reached LegallyMail: {what}. It was NOT retried, to avoid sending twice.{where}",
            vendor=VENDOR, function=function, code="parse",
        )

    def _check(self, function: str, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        text = response.text
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        vendor_message = self._vendor_message(body, text)
        refused = isinstance(body, dict) and body.get("success") is False
        if refused and status < 300 and _AUTH_FAILURE_RE.search(vendor_message):
            # "200 {success: false, message: Invalid API token}": a refused login like a 401, never repeated.
            error = AuthenticationError(f"The vendor refused the token: {vendor_message}", vendor=VENDOR,
                                        function=function, code=status)
            self.transport.remember_auth_failure(error)
            raise error
        if status >= 400 or refused:
            raise self._error_for(status, vendor_message, function)
        if not isinstance(body, dict):
            raise MensatekError(f"Unreadable answer (not a JSON object): {vendor_message!r}", vendor=VENDOR,
                                function=function, code="parse")
        # An accepted answer may echo the token too (its message, say), and what the client returns reaches XCom.
        answer: dict[str, Any] = self.transport.redact_answer(body)
        return answer

    def _vendor_message(self, body: Any, text: str) -> str:
        parts: list[str] = []
        if isinstance(body, dict):
            for key in ("message", "error", "errors", "details"):
                value = body.get(key)
                if value and str(value) not in parts:
                    parts.append(str(value))
        if parts:
            return self.transport.redact("; ".join(parts))
        return self.transport.redact(text.strip())[:300]

    def _error_for(self, status: int, message: str, function: str) -> MensatekError:
        detail = message or "no details"
        if status == 403:
            if _CREDITS_RE.search(message):
                return InsufficientCreditsError(f"No credits / remaining emails left: {detail}", vendor=VENDOR,
                                                function=function, code=403)
            return ForbiddenError(f"Not allowed: {detail}", vendor=VENDOR, function=function, code=403)
        if status == 404:
            return NotFoundError(f"Not found: {detail}", vendor=VENDOR, function=function, code=404)
        if status in (400, 405, 413, 422):
            return InvalidRequestError(f"The vendor refused the data: {detail}", vendor=VENDOR,
                                       function=function, code=status)
        if status < 500:
            # 401 and 429 are the transport's; any other 4xx is a refusal of the request.
            return InvalidRequestError(f"The vendor refused the request (HTTP {status}): {detail}", vendor=VENDOR,
                                       function=function, code=status)
        return MensatekError(f"Unexpected answer (HTTP {status}): {detail}", vendor=VENDOR, function=function,
                             code=status)

    def download(
        self,
        url: str,
        fileobj: IO[bytes],
        *,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        chunk_size: int = 64 * 1024,
    ) -> DownloadedFile:
        """Stream a file the API pointed to (``pdf_download_url``, ``download_acta_url`` …) into ``fileobj``.

        Only URLs on the API's own scheme and host are fetched: the Bearer token
        is never sent anywhere else. Assumption (not documented): the download
        URLs accept the same Bearer token as the API. The content is not judged
        here; :func:`~airflow_provider_mensatek.certificates.checks.check_pdf`
        does that before anything is archived.
        """
        parts = urlsplit(url if isinstance(url, str) else "")
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path:
            raise _invalid(f"Refusing to download {url!r}: only URLs on {base.scheme}://{base.netloc} get the "
                           "API token", "download")
        with self.transport.first_use():
            return self._download(url, parts.path, parts.query, fileobj, max_bytes=max_bytes,
                                  chunk_size=chunk_size)

    def _download(self, url: str, path: str, query: str, fileobj: IO[bytes], *, max_bytes: int,
                  chunk_size: int) -> DownloadedFile:
        response = self._files.request("GET", path, function="download", kind=SAFE,
                                       params=dict(parse_qsl(query, keep_blank_values=True)) or None,
                                       stream=True)
        with response:
            content_type = response.headers.get("Content-Type")
            if response.status_code >= 400 or "json" in (content_type or "").lower():
                self._files.read_answer(response, function="download")
                self._check("download", response)
                raise CertificateError(f"Expected a file, got a JSON answer from {path}", vendor=VENDOR,
                                       function="download", code="not-a-file")
            written = 0
            for chunk in self._files.iter_content(response, function="download", chunk_size=chunk_size):
                written += len(chunk)
                if written > max_bytes:
                    raise CertificateError(f"{path} exceeds {max_bytes} bytes; refused", vendor=VENDOR,
                                           function="download", code="too-large")
                fileobj.write(chunk)
        return DownloadedFile(url=url, bytes_written=written, content_type=content_type)
