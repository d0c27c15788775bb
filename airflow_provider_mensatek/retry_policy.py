"""A ready-made Airflow 3.3 ``retry_policy`` for this provider's tasks (AIP-105).

Use it on any task of the provider::

    from airflow_provider_mensatek.retry_policy import MensatekRetryPolicy

    MensatekSendCertifiedEmailOperator(..., retries=3, retry_policy=MensatekRetryPolicy())

* rate limited / transient / certificate-not-ready: retry, after the vendor's
  ``Retry-After`` when it gave one (at least ``min_delay``);
* authentication, validation, vendor refusals and ambiguous sends: fail now —
  a retry cannot fix them, and retrying the first or the last would risk an
  anti-spam block or a second legal notification;
* anything else: Airflow's normal retry rules.

The policy only decides among the task's own ``retries``; it never adds any.
Errors that operators already turned into ``AirflowFailException`` never reach
it (Airflow fails those at once).

Airflow 3.2 has no task-level retry policy: this module imports there (so tools
that load every module of the provider work), but making a policy raises
``AirflowOptionalProviderFeatureException`` naming Airflow 3.3. On 3.2 leave
``retry_policy`` out: the errors a retry cannot fix fail the task without
retries anyway, and the others retry after the task's ``retry_delay``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

from airflow_provider_mensatek.clients.errors import PERMANENT_ERRORS, MensatekError

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
else:
    try:
        from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
    except ImportError:  # Airflow < 3.3 (AIP-105 is new in 3.3)
        RetryDecision = None
        RetryPolicy = object


class MensatekRetryPolicy(RetryPolicy):
    """Retry what the vendor said is temporary, after the delay it asked for; fail the rest."""

    def __init__(self, min_delay: timedelta = timedelta(seconds=30), max_delay: timedelta = timedelta(hours=1)):
        if RetryDecision is None:
            from airflow import __version__

            raise AirflowOptionalProviderFeatureException(
                f"MensatekRetryPolicy needs Airflow 3.3 or later (task-level retry_policy); this is Airflow "
                f"{__version__}. Leave retry_policy out here: errors a retry cannot fix already fail the task "
                "without retries, the others retry after retry_delay."
            )
        self.min_delay = min_delay
        self.max_delay = max_delay

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        error = _find_provider_error(exception)
        if error is None:
            return RetryDecision.default()
        if isinstance(error, PERMANENT_ERRORS):
            return RetryDecision.fail(f"{type(error).__name__} cannot be fixed by a retry: {error}")
        if error.retryable:
            retry_after = getattr(error, "retry_after", None)
            delay = self.min_delay
            if retry_after is not None:
                delay = max(self.min_delay, timedelta(seconds=float(retry_after)))
            delay = min(delay, self.max_delay)
            return RetryDecision.retry(delay=delay, reason=f"{type(error).__name__}: retry in {delay}")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "MensatekRetryPolicy", "min_delay": self.min_delay.total_seconds(),
                "max_delay": self.max_delay.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MensatekRetryPolicy:
        return cls(timedelta(seconds=data["min_delay"]), timedelta(seconds=data["max_delay"]))


def _find_provider_error(exception: BaseException) -> MensatekError | None:
    """The provider error itself, or the one it was raised from."""
    seen = 0
    current: BaseException | None = exception
    while current is not None and seen < 5:
        if isinstance(current, MensatekError):
            return current
        current = current.__cause__
        seen += 1
    return None
