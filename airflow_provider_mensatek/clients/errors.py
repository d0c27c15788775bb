"""One exception tree for both vendors.

Every error carries the vendor, the function (API call) that raised it and the
vendor's own code, so a task log says exactly what the vendor answered. None of
them ever holds a credential: messages are built from vendor answers and our
own words only, and every message (and every text in ``details``) is passed
through :func:`~airflow_provider_mensatek.clients._http.redact.redact`, which knows
every form of every credential a client of this process was built with.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mensatek.clients._http.redact import redact


class MensatekError(Exception):
    """Base class of every error raised by this provider's clients (both vendors)."""

    #: True when retrying the same call later may succeed (used by the retry policy).
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "mensatek",
        function: str | None = None,
        code: int | str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.vendor = vendor
        self.function = function
        self.code = code
        self.details = {k: redact(v) if isinstance(v, str) else v for k, v in (details or {}).items()}

    def __str__(self) -> str:
        where = f"{self.vendor}.{self.function}" if self.function else self.vendor
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{where}{code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling; triggers
        # and process pools need the error intact.
        return (
            _rebuild,
            (type(self), self.message, self.vendor, self.function, self.code, self.details, self.__dict__),
        )


def _rebuild(
    cls: type[MensatekError],
    message: str,
    vendor: str,
    function: str | None,
    code: int | str | None,
    details: dict[str, Any],
    state: dict[str, Any],
) -> MensatekError:
    err = cls.__new__(cls)
    MensatekError.__init__(err, message, vendor=vendor, function=function, code=code, details=details)
    err.__dict__.update(state)
    return err


class AuthenticationError(MensatekError):
    """Bad credentials. Never retried: the vendors treat repeated failures as spam and block."""


class ForbiddenError(MensatekError):
    """The credentials are valid but may not do this (LegallyMail 403)."""


class InsufficientCreditsError(MensatekError):
    """The account has not enough credits (Mensatek Res -2 on a send, LegallyMail 403 quota)."""


class InvalidRequestError(MensatekError):
    """The vendor refused the data (Mensatek Res -3 with its Error text, HTTP 400)."""


class ValidationError(InvalidRequestError):
    """Local validation refused the input before any HTTP request was made."""

    def __init__(self, message: str, *, vendor: str = "mensatek", function: str | None = None) -> None:
        super().__init__(message, vendor=vendor, function=function, code="local")


class InvalidDateError(InvalidRequestError):
    """A scheduling date the vendor refused (bad format or already past)."""


class SenderNotValidatedError(InvalidRequestError):
    """The sender address has not been validated in the vendor panel."""


class NotFoundError(MensatekError):
    """The message / document does not exist, or belongs to another account."""


class AlreadySentError(MensatekError):
    """The scheduled message was already sent: it can no longer be cancelled or rescheduled."""


class AlreadyCancelledError(MensatekError):
    """The message was already cancelled."""


class CertificateNotReadyError(MensatekError):
    """The certificate is not generated yet (Mensatek answers plain ``Res:-5``). Ask again later."""

    retryable = True


class RateLimitedError(MensatekError):
    """The vendor asked us to slow down (HTTP 429). ``retry_after`` is in seconds when known."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(MensatekError):
    """A temporary failure worth retrying later (connect failure, 503, 5xx or a timeout on a safe call).

    On a send it is raised only when the request certainly did not arrive
    (connect failure, 503 with Retry-After); anything else on a send is an
    :class:`AmbiguousSendError`. On a cancel or reschedule the vendor may have
    applied it already; those calls are safe to repeat.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AmbiguousSendError(MensatekError):
    """A send may have reached the vendor: it is never retried automatically.

    ``reference`` is the user reference sent with the request, the key to look
    the message up in the vendor panel before deciding to send again.
    """

    def __init__(self, message: str, *, reference: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reference = reference


class CertificateError(MensatekError):
    """A downloaded certificate archive failed its checks (not a ZIP/PDF, corrupt, unsafe)."""


class ReportParseError(MensatekError):
    """A body POSTed to a report receiver is not a Mensatek report this provider can read.

    The message says why (bad JSON, a conflicting field, over a limit, ...) and
    quotes no field value: a receiver logs it and keeps the body as it came.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, function="report", code="parse")


class FileStorageFullError(ForbiddenError):
    """The Mensatek file library is full (Res -10): delete files or ask support for more space."""


class UnsupportedFileTypeError(InvalidRequestError):
    """The file library refused the format (Res -11: PDF, Excel, Word and VCF only)."""


class FileTooLargeError(InvalidRequestError):
    """The file is larger than the library accepts (Res -16)."""


class FileUploadFailedError(MensatekError):
    """The vendor failed while storing an upload (Res -17); a later attempt may work."""


#: Errors that a retry of the same task cannot fix.
PERMANENT_ERRORS: tuple[type[MensatekError], ...] = (
    AuthenticationError,
    ForbiddenError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    AlreadySentError,
    AlreadyCancelledError,
    AmbiguousSendError,
    CertificateError,
)


#: Errors that prove a send did not reach the vendor (it refused it, or it was never delivered to it).
#: An AmbiguousSendError is never one of them; anything not listed counts as "may have been sent".
NOTHING_SENT_ERRORS: tuple[type[MensatekError], ...] = (
    InvalidRequestError,
    AuthenticationError,
    ForbiddenError,
    InsufficientCreditsError,
    RateLimitedError,
    TransientError,
)
