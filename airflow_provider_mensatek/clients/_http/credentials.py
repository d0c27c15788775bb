"""Credentials: the auth objects that carry them, and the process-wide memory of refused ones.

The vendors count failed logins as spam and block the account. So a refused
credential is remembered for the rest of the process (later calls fail without
a request), and until a credential has been accepted once in this process only
one request with it is in flight at a time: parallel batches or tasks wait for
that first answer instead of each making their own failed login.

Credential-bearing objects refuse to be pickled. A pickled client lands in
caches, XCom backends or multiprocessing queues with its token inside; a copy
with the token stripped would fail later, far from the mistake. Building a
client from the connection in the process that uses it is the supported way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, NoReturn, TypeVar

import requests
from requests.auth import AuthBase

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob, LoopWait, current_job
from airflow_provider_mensatek.clients.errors import (
    AlreadyCancelledError,
    AlreadySentError,
    AuthenticationError,
    CertificateNotReadyError,
    ForbiddenError,
    InsufficientCreditsError,
    NotFoundError,
)

_H = TypeVar("_H", bound="HoldsCredential")


class HoldsCredential:
    """Refuses pickling (see the module's docstring); a copy in the same process is the object itself."""

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} holds an API credential and is not picklable: build a client from the "
            "Airflow connection (or the token) in the process that uses it."
        )

    def __copy__(self: _H) -> _H:
        return self

    def __deepcopy__(self: _H, memo: dict[int, Any]) -> _H:
        return self


class _CredentialAuth(HoldsCredential, AuthBase):
    """Sets one ``Authorization`` value and never shows it."""

    def __init__(self, header_value: str) -> None:
        self.__header_value = header_value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.__header_value
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"

    __str__ = __repr__


class BasicAuth(_CredentialAuth):
    """HTTP Basic (Mensatek: API user + API token)."""

    def __init__(self, user: str, token: str) -> None:
        encoded = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
        super().__init__(f"Basic {encoded}")


class BearerAuth(_CredentialAuth):
    """``Authorization: Bearer <token>`` (LegallyMail)."""

    def __init__(self, token: str) -> None:
        super().__init__(f"Bearer {token}")


def credential_key(vendor: str, base_url: str, *parts: str) -> str:
    """A stable, non-reversible id of a credential (never the credential itself)."""
    digest = hashlib.sha256("\x00".join((vendor, base_url, *parts)).encode()).hexdigest()
    return f"{vendor}:{digest[:16]}"


#: Vendor answers that can only follow an accepted credential. A data refusal
#: (InvalidRequestError) is not one: a vendor may check the data first.
_ACCEPTED_ANSWERS = (NotFoundError, ForbiddenError, InsufficientCreditsError, AlreadySentError,
                     AlreadyCancelledError, CertificateNotReadyError)


class FirstUseWait(LoopWait):
    """A loop job's credential has its first call in flight elsewhere: the loop awaits its end."""

    def __init__(self, memory: _CredentialMemory, key: str) -> None:
        super().__init__("waiting for the first answer to this credential")
        self.memory = memory
        self.key = key

    async def wait(self, job: LoopJob) -> None:
        await self.memory.released(self.key)


class _CredentialMemory:
    """Refused credentials, and the gate that lets one first request per credential out at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._failures: dict[str, AuthenticationError] = {}
        self._accepted: set[str] = set()
        self._holders: dict[str, int] = {}
        # Event loops awaiting the end of a first call (their thread jobs never block on the gate).
        self._loop_waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    def failure(self, key: str) -> AuthenticationError | None:
        with self._cond:
            return self._failures.get(key)

    def remember(self, key: str, error: AuthenticationError) -> None:
        with self._cond:
            self._failures[key] = error
            self._accepted.discard(key)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._failures.clear()
            self._accepted.clear()
            self._cond.notify_all()

    @contextmanager
    def first_use(self, key: str) -> Iterator[None]:
        """Run a call; while ``key`` has no accepted answer yet, one such call at a time in the process.

        A waiting call resumes when the one in flight ends: it raises the
        remembered failure without a request when that call was refused, and
        goes ahead otherwise. A call that ended without an answer (a network
        error) proves nothing: the next waiter makes the next first attempt.
        The same thread may nest calls (no deadlock on re-entry). A thread job
        of an event loop does not wait here: it raises :class:`FirstUseWait`.
        """
        me = threading.get_ident()
        with self._cond:
            while True:
                if key in self._accepted or self._holders.get(key) == me:
                    held = False
                    break
                if key in self._failures:
                    held = False  # the transport raises the remembered error without a request
                    break
                if key not in self._holders:
                    self._holders[key] = me
                    held = True
                    break
                if current_job() is not None:
                    raise FirstUseWait(self, key)
                self._cond.wait()
        if not held:
            yield
            return
        accepted = False
        try:
            yield
            accepted = True
        except _ACCEPTED_ANSWERS:
            accepted = True
            raise
        finally:
            with self._cond:
                del self._holders[key]
                if accepted and key not in self._failures:
                    self._accepted.add(key)
                self._cond.notify_all()
                for loop, future in self._loop_waiters.pop(key, []):
                    with suppress(RuntimeError):  # that loop has closed: nobody waits there any more
                        loop.call_soon_threadsafe(_resolve, future)

    async def released(self, key: str) -> None:
        """Return once no first call of ``key`` is in flight (at once when none is)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if key not in self._holders:
                return
            self._loop_waiters.setdefault(key, []).append((loop, future))
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


CREDENTIALS = _CredentialMemory()


def remembered_auth_failure(credential_id: str) -> AuthenticationError | None:
    """The authentication failure remembered for a credential in this process (None if none).

    ``credential_id`` is a client's ``credential_id`` (a non-reversible hash).
    """
    return CREDENTIALS.failure(credential_id)


def remember_auth_failure(credential_id: str, error: AuthenticationError) -> None:
    """Record that the vendor refused a credential, e.g. one another process saw refused.

    Every later call with that credential in this process then raises an
    :class:`AuthenticationError` without a request.
    """
    CREDENTIALS.remember(credential_id, error)


def reset_auth_failures() -> None:
    """Forget remembered authentication failures (after fixing a connection, or between tests)."""
    CREDENTIALS.clear()
