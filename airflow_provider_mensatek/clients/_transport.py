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
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import tenacity
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_provider_mensatek import __version__
from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    MensatekError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

log = logging.getLogger("airflow_provider_mensatek.clients")

SEND = "send"
SAFE = "safe"

USER_AGENT = f"airflow-provider-mensatek/{__version__}"

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


@dataclass(frozen=True)
class RetrySettings:
    """How hard the transport tries before giving up (per call).

    ``max_retry_wait`` caps a vendor ``Retry-After``: when the vendor asks for
    a longer pause the call fails with :class:`RateLimitedError` and the task's
    own retry policy (which knows the delay) takes over instead of blocking a
    worker slot.
    """

    max_attempts: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_retry_wait: float = 120.0


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 60.0

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


def is_loopback_host(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(host: str | None, *, default: str, port: int | None = None) -> str:
    """Turn a connection's host field into a base URL.

    Empty host: the vendor default. A full URL is kept (path included). A bare
    host name gets ``https://`` and the default's path. Plain ``http://`` is
    accepted for loopback hosts only (the sandbox); anything else is refused,
    so a credential is never sent in clear text by accident.
    """
    if not host or not host.strip():
        url = default
    else:
        host = host.strip()
        if "://" not in host:
            # "api.example.com" gets the default path; "api.example.com/v7" keeps its own.
            name, slash, path = host.partition("/")
            netloc = f"{name}:{port}" if port else name
            url = f"https://{netloc}{slash}{path}" if slash else f"https://{netloc}{urlsplit(default).path}"
        else:
            url = host
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ValidationError(f"Unsupported URL scheme {parts.scheme!r} in {url!r}: use https://")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            f"Refusing plain http:// for {parts.hostname!r}: the API token would travel in clear text. "
            "Use https:// (plain http is allowed only for loopback hosts such as the local sandbox)."
        )
    if not parts.hostname:
        raise ValidationError(f"No host name in base URL {url!r}")
    return url.rstrip("/")


class _AuthFailures:
    """Process-wide memory of credentials the vendor refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, AuthenticationError] = {}

    def get(self, key: str) -> AuthenticationError | None:
        with self._lock:
            return self._failures.get(key)

    def remember(self, key: str, error: AuthenticationError) -> None:
        with self._lock:
            self._failures[key] = error

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


AUTH_FAILURES = _AuthFailures()


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


def reset_auth_failures() -> None:
    """Forget remembered authentication failures (after fixing a connection, or between tests)."""
    AUTH_FAILURES.clear()


def credential_key(vendor: str, base_url: str, *parts: str) -> str:
    """A stable, non-reversible id of a credential (never the credential itself)."""
    digest = hashlib.sha256("\x00".join((vendor, base_url, *parts)).encode()).hexdigest()
    return f"{vendor}:{digest[:16]}"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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


class _StopOnLongRetryAfter(tenacity.stop.stop_base):
    """Stop when the vendor asks for a pause longer than we may block a worker for."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is not None and retry_after > self.limit


class Transport:
    """A ``requests.Session`` with the provider's retry, auth-memory and logging rules."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        auth: AuthBase | tuple[str, str],
        secret: str,
        credential_id: str,
        timeouts: Timeouts | None = None,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        before_request: Callable[[], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetrySettings()
        self._secret = secret
        self._credential_id = credential_id
        self._sleep = sleep
        self._before_request = before_request
        self.session = session or requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = USER_AGENT
        # Environment proxies would route loopback sandbox traffic elsewhere and
        # leak the Authorization header to a proxy nobody configured for us.
        self.session.trust_env = False

    def __repr__(self) -> str:
        return f"<Transport {self.vendor} {self.base_url}>"

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "***")
        return text

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
        are returned for the vendor client to interpret.
        """
        remembered = AUTH_FAILURES.get(self._credential_id)
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

        def attempt() -> requests.Response:
            nonlocal attempt_no
            attempt_no += 1
            return self._attempt(
                method, url, path, function=function, kind=kind, json=json, data=data,
                params=params, files=files, stream=stream, reference=reference, attempt_no=attempt_no,
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.retry.max_attempts),
                                   _StopOnLongRetryAfter(self.retry.max_retry_wait)),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, RateLimitedError | TransientError)),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(attempt)

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
    ) -> requests.Response:
        if self._before_request is not None:
            self._before_request()
        if kind == SEND:
            _SEND_ATTEMPTS.increment()
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, json=json, data=data, params=params, files=files,
                timeout=self.timeouts.as_tuple(), stream=stream, allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._raise_for_network_error(exc, function=function, kind=kind, reference=reference)
            raise  # unreachable: _raise_for_network_error always raises
        elapsed = time.monotonic() - started
        log.info(
            "%s %s %s -> HTTP %s in %.2fs (attempt %d)",
            self.vendor, method, path, response.status_code, elapsed, attempt_no,
        )
        self._raise_for_transport_status(response, function=function, kind=kind, reference=reference)
        return response

    def _raise_for_network_error(
        self, exc: requests.RequestException, *, function: str, kind: str, reference: str | None
    ) -> None:
        detail = self.redact(f"{type(exc).__name__}: {exc}")
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
        AUTH_FAILURES.remember(self._credential_id, error)

    def _ambiguous_text(self, what: str, reference: str | None) -> str:
        return ambiguous_send_text(what, reference)

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        backoff = min(
            self.retry.backoff_max,
            self.retry.backoff_initial * (2 ** (retry_state.attempt_number - 1)),
        )
        backoff = random.uniform(backoff / 2, backoff)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return max(float(retry_after), 0.0)
        return backoff

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning("%s; retrying in %.1fs (attempt %d)", exc, wait, retry_state.attempt_number + 1)


_C = TypeVar("_C", bound="TransportClient")


class TransportClient:
    """What both vendor clients share: one Transport, closed on exit (``with Client(...) as c:``)."""

    transport: Transport

    def close(self) -> None:
        self.transport.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
