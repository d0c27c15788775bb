"""HTTP transport shared by both vendor clients.

One ``requests.Session`` per client, explicit timeouts, a tenacity retry
policy that follows the provider's contracts, remembered authentication
failures, and logs that never carry a secret or a message body.

Retry contract (see DESIGN.md):

* ``SAFE`` calls (reads, cancel, reschedule) are retried on anything that a
  repeat cannot make worse: connect failures, read timeouts, resets, 5xx, 429.
* ``SEND`` calls are retried only when the request certainly did not arrive or
  the vendor explicitly said "come back later": a connect failure, or a 429 /
  503 that carries ``Retry-After``. A read timeout, a reset after the body was
  written or any other 5xx raises :class:`AmbiguousSendError` at once.
* An authentication failure is never retried, and is remembered for the
  credential for the rest of the process: later calls fail without touching
  the network, so a misconfigured DAG cannot get the account blocked.
* Every call has an overall deadline (all its attempts, the waits between
  them and the answer: see :mod:`.retry`) and every answer a size cap: on a
  send, hitting either is ambiguous (the request left); on a read the deadline
  is transient and an oversized answer a plain error.
* A request counts as started only once it is fully built: an argument that
  cannot be encoded fails as local validation, nothing sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, NoReturn, TypeVar

import requests
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.clients._http.credentials import (
    CREDENTIALS,
    HoldsCredential,
    credential_key,
    reset_auth_failures,
)
from airflow_provider_mensatek.clients._http.deadline import DeadlineAdapter, Exchange, deadline
from airflow_provider_mensatek.clients._http.egress import Egress
from airflow_provider_mensatek.clients._http.limits import (
    DEFAULT_MAX_RESPONSE_BYTES,
    READ_ERRORS,
    BodyTooLarge,
    exchange_of,
    finish_on_close,
    read_body,
)
from airflow_provider_mensatek.clients._http.redact import redact, redact_strings, register_secret
from airflow_provider_mensatek.clients._http.retry import CallPlan, TransportRetry, parse_retry_after
from airflow_provider_mensatek.clients._http.settings import RetrySettings, Timeouts
from airflow_provider_mensatek.clients._http.urls import is_loopback_host, resolve_base_url
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    MensatekError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

__all__ = [
    "SAFE", "SEND", "RetrySettings", "Timeouts", "Transport", "TransportClient", "ambiguous_send_text",
    "credential_key", "is_loopback_host", "parse_retry_after", "reset_auth_failures", "resolve_base_url",
    "send_attempts_started",
]

log = logging.getLogger("airflow_provider_mensatek.clients")

SEND = "send"
SAFE = "safe"

USER_AGENT = f"airflow-provider-mensatek/{__version__}"


class _SendCounter:
    """How many SEND requests this process has started (process-wide, so threads count too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def increment(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


_SEND_ATTEMPTS = _SendCounter()


def send_attempts_started() -> int:
    """A counter of send requests that began leaving this process.

    Compare it before and after a failed send: unchanged means nothing can
    have reached a vendor, whatever the exception says.
    """
    return _SEND_ATTEMPTS.value


def _is_connect_failure(exc: requests.RequestException) -> bool:
    """True only when the TCP/TLS connection was never established (nothing was sent)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def ambiguous_send_text(what: str, reference: str | None) -> str:
    ref = f" with reference {reference!r}" if reference else " (no reference was given)"
    return (
        f"The send may have reached the vendor: {what}. It was NOT retried, to avoid sending twice. "
        f"Check the vendor panel for the message{ref} before sending again."
    )


class Transport(HoldsCredential):
    """A ``requests.Session`` with the provider's retry, auth-memory, deadline, cap and logging rules."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        auth: AuthBase,
        secret: str,
        credential_id: str,
        user: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        before_request: Callable[[], None] | None = None,
        session: requests.Session | None = None,
        egress: Egress | None = None,
    ) -> None:
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
            raise ValidationError(f"max_response_bytes must be a whole number >= 1, got {max_response_bytes!r}",
                                  vendor=vendor)
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetrySettings()
        self.max_response_bytes = max_response_bytes
        self._secret_forms = register_secret(secret, user=user)
        self._credential_id = credential_id
        self._sleep = sleep
        self._before_request = before_request
        self._retry = TransportRetry(self, sleep=sleep)
        self.session = session or requests.Session()
        if not isinstance(self.session.get_adapter("https://x"), DeadlineAdapter):
            for prefix in ("https://", "http://"):
                self.session.mount(prefix, DeadlineAdapter())
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT
        # What our bounded decoder handles; a brotli/zstd body would arrive undecodable.
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        # The environment is ignored (no .netrc, no HTTP(S)_PROXY): only a proxy the connection names is used.
        (egress or Egress()).apply(self.session, self.base_url, vendor=vendor)

    def __repr__(self) -> str:
        return f"<Transport {self.vendor} {self.base_url}>"

    @property
    def credential_id(self) -> str:
        """A non-reversible id of this transport's credential (see :mod:`._credentials`)."""
        return self._credential_id

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        return redact(text, self._secret_forms)

    def redact_answer(self, answer: Any) -> Any:
        """A decoded vendor answer with every string redacted (the same object when none needed it)."""
        return redact_strings(answer, self._secret_forms)

    def first_use(self) -> AbstractContextManager[None]:
        """Wrap one call and the reading of its answer: see :meth:`._credentials._CredentialMemory.first_use`."""
        return CREDENTIALS.first_use(self._credential_id)

    # -- the one entry point -------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        function: str,
        kind: str,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        stream: bool = False,
        reference: str | None = None,
    ) -> requests.Response:
        """Make one logical call, retried as the contract allows. Returns the raw response.

        HTTP statuses the transport does not own (2xx, 4xx other than 401/429)
        are returned for the vendor client to interpret, their body read
        (within ``max_response_bytes``) unless ``stream``: then the caller
        reads it with :meth:`iter_content` and closes it.
        """
        remembered = CREDENTIALS.failure(self._credential_id)
        if remembered is not None:
            raise AuthenticationError(
                "Authentication already failed for this connection earlier in this process; not calling "
                "the vendor again (repeated failures get the account blocked as spam). Fix the "
                "credentials and restart the task.",
                vendor=self.vendor,
                function=function,
                code=remembered.code,
            )

        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt_no = 0

        def attempt(plan: CallPlan[requests.Response]) -> requests.Response:
            nonlocal attempt_no
            attempt_no += 1
            return self._attempt(
                method, url, path, function=function, kind=kind, json=json, data=data,
                params=params, files=files, stream=stream, reference=reference, attempt_no=attempt_no, plan=plan,
            )

        return self._retry.run(CallPlan(attempt, self.timeouts.deadline))

    def read_answer(self, response: requests.Response, *, function: str) -> None:
        """Read a streamed (safe) answer's whole body after all, within ``max_response_bytes``."""
        exchange = exchange_of(response)
        if exchange is not None:
            self._read(response, exchange, function=function, kind=SAFE, reference=None)

    def iter_content(self, response: requests.Response, *, function: str, chunk_size: int) -> Iterator[bytes]:
        """The chunks of a streamed (safe) answer; a broken read or the deadline is a TransientError."""
        exchange = exchange_of(response)
        try:
            yield from response.iter_content(chunk_size=chunk_size)
        except READ_ERRORS as exc:
            raise self._read_failure(exc, exchange, function=function, kind=SAFE, reference=None) from None
        if exchange is not None and exchange.expired:
            raise self._read_failure(None, exchange, function=function, kind=SAFE, reference=None)

    # -- internals -------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        *,
        function: str,
        kind: str,
        json: Any,
        data: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        files: Any,
        stream: bool,
        reference: str | None,
        attempt_no: int,
        plan: CallPlan[requests.Response],
    ) -> requests.Response:
        if self._before_request is not None:
            self._before_request()
        left = plan.remaining()
        if left < plan.min_attempt_seconds:  # the rate limiter's wait took the call's time: nothing sent
            raise TransientError(
                f"Not called: only {max(left, 0.0):.1f}s of the call's {plan.seconds:g}s deadline (connection extra "
                "deadline) was left after waiting for the rate limit; nothing was sent",
                vendor=self.vendor, function=function, code="deadline")
        try:
            prepared = self.session.prepare_request(
                requests.Request(method, url, json=json, data=data, params=params, files=files))
        except Exception as exc:  # an argument that cannot be encoded: nothing was sent
            raise ValidationError(f"The request could not be encoded, so nothing was sent: {type(exc).__name__}: "
                                  f"{exc}", vendor=self.vendor, function=function) from None
        if kind == SEND:
            _SEND_ATTEMPTS.increment()
        started = time.monotonic()
        with deadline(left) as exchange:
            try:
                response = self.session.send(prepared, timeout=self.timeouts.as_tuple(), stream=True,
                                             allow_redirects=False)
            except BaseException as exc:
                exchange.finish()
                if isinstance(exc, requests.RequestException):
                    self._raise_for_network_error(exc, exchange, function=function, kind=kind, reference=reference)
                raise
        try:
            self._raise_for_transport_status(response, function=function, kind=kind, reference=reference)
            if not stream:
                self._read(response, exchange, function=function, kind=kind, reference=reference)
        except BaseException:
            response.close()
            exchange.finish()
            raise
        if stream:
            finish_on_close(response, exchange)
        else:
            exchange.finish()
        log.info(
            "%s %s %s -> HTTP %s in %.2fs (attempt %d)",
            self.vendor, method, path, response.status_code, time.monotonic() - started, attempt_no,
        )
        return response

    def _read(self, response: requests.Response, exchange: Exchange, *, function: str, kind: str,
              reference: str | None) -> None:
        try:
            read_body(response, self.max_response_bytes)
        except BodyTooLarge as exc:
            if kind == SEND:
                raise AmbiguousSendError(self._ambiguous_text(exc.describe(), reference), vendor=self.vendor,
                                         function=function, code="too-large", reference=reference) from None
            raise MensatekError(f"Unreadable answer: {exc.describe()}", vendor=self.vendor, function=function,
                                code="too-large") from None
        except READ_ERRORS as exc:
            raise self._read_failure(exc, exchange, function=function, kind=kind, reference=reference) from None
        if exchange.expired:  # a body without a length ends "cleanly" when the watchdog shuts the socket
            raise self._read_failure(None, exchange, function=function, kind=kind, reference=reference)

    def _read_failure(self, exc: BaseException | None, exchange: Exchange | None, *, function: str, kind: str,
                      reference: str | None) -> MensatekError:
        if exchange is not None and exchange.expired:
            what = (f"the call passed its {self.timeouts.deadline:g}s deadline (connection extra deadline) "
                    "before the answer was complete")
            code = "deadline"
        else:
            what = f"the answer broke off ({type(exc).__name__}: {exc})"
            code = "network"
        if kind == SEND:
            return AmbiguousSendError(self._ambiguous_text(what, reference), vendor=self.vendor, function=function,
                                      code=code, reference=reference)
        return TransientError(f"Reading the answer failed: {what}", vendor=self.vendor, function=function, code=code)

    def _raise_for_network_error(
        self, exc: requests.RequestException, exchange: Exchange, *, function: str, kind: str,
        reference: str | None,
    ) -> NoReturn:
        if exchange.expired:
            raise self._read_failure(exc, exchange, function=function, kind=kind, reference=reference) from None
        detail = f"{type(exc).__name__}: {exc}"
        if _is_connect_failure(exc):
            raise TransientError(
                f"Could not connect to {self.base_url} (nothing was sent): {detail}",
                vendor=self.vendor, function=function, code="connect",
            ) from None
        if kind == SEND:
            raise AmbiguousSendError(
                self._ambiguous_text(f"the connection failed after the request was sent ({detail})", reference),
                vendor=self.vendor, function=function, code="network", reference=reference,
            ) from None
        raise TransientError(
            f"Network error talking to {self.base_url}: {detail}",
            vendor=self.vendor, function=function, code="network",
        ) from None

    def _raise_for_transport_status(
        self, response: requests.Response, *, function: str, kind: str, reference: str | None
    ) -> None:
        status = response.status_code
        if status == 401:
            error = AuthenticationError(
                "The vendor refused the credentials (HTTP 401). Not retried.",
                vendor=self.vendor, function=function, code=401,
            )
            self.remember_auth_failure(error)
            response.close()
            raise error
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            response.close()
            raise RateLimitedError(
                "Rate limited by the vendor (HTTP 429)"
                + (f"; retry after {retry_after:.0f}s" if retry_after is not None else ""),
                vendor=self.vendor, function=function, code=429, retry_after=retry_after,
            )
        if status >= 500:
            response.close()
            if kind == SEND and not (status == 503 and retry_after is not None):
                raise AmbiguousSendError(
                    self._ambiguous_text(f"the vendor answered HTTP {status}", reference),
                    vendor=self.vendor, function=function, code=status, reference=reference,
                )
            raise TransientError(
                f"The vendor answered HTTP {status}", vendor=self.vendor, function=function,
                code=status, retry_after=retry_after,
            )
        if 300 <= status < 400:
            response.close()
            if kind == SEND:
                # A 303 after processing is a classic POST pattern: the send may have happened.
                raise AmbiguousSendError(
                    self._ambiguous_text(f"the vendor answered a redirect (HTTP {status})", reference),
                    vendor=self.vendor, function=function, code=status, reference=reference,
                )
            raise MensatekError(
                f"Unexpected redirect (HTTP {status}); check the connection's base URL",
                vendor=self.vendor, function=function, code=status,
            )

    def remember_auth_failure(self, error: AuthenticationError) -> None:
        CREDENTIALS.remember(self._credential_id, error)

    def _ambiguous_text(self, what: str, reference: str | None) -> str:
        return ambiguous_send_text(what, reference)


_C = TypeVar("_C", bound="TransportClient")


class TransportClient(HoldsCredential):
    """What both vendor clients share: one Transport, closed on exit (``with Client(...) as c:``)."""

    transport: Transport

    @property
    def credential_id(self) -> str:
        """A non-reversible id of the client's credential, for :func:`._credentials.remember_auth_failure`."""
        return self.transport.credential_id

    def close(self) -> None:
        self.transport.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
