"""MensatekRetryPolicy: retry what the vendor said is temporary, after its Retry-After; fail the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.airflow_versions import AIRFLOW_VERSION, missing_reason

if AIRFLOW_VERSION < (3, 3):  # the imports below need it
    pytest.skip(missing_reason((3, 3), "task-level retry_policy"), allow_module_level=True)

from airflow.sdk.definitions.retry_policy import RetryAction

from airflow_provider_mensatek.clients.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CertificateNotReadyError,
    InvalidRequestError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from airflow_provider_mensatek.retry_policy import MensatekRetryPolicy

policy = MensatekRetryPolicy(min_delay=timedelta(seconds=30), max_delay=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("error", "delay"),
    [
        (RateLimitedError("slow down", retry_after=120), timedelta(seconds=120)),
        (RateLimitedError("slow down", retry_after=5), timedelta(seconds=30)),  # never below min_delay
        (RateLimitedError("slow down", retry_after=86400), timedelta(minutes=30)),  # capped
        (TransientError("503", retry_after=None), timedelta(seconds=30)),
        (CertificateNotReadyError("Res:-5"), timedelta(seconds=30)),
    ],
)
def test_temporary_errors_retry_after_the_vendor_delay(error, delay) -> None:
    decision = policy.evaluate(error, try_number=1, max_tries=3)
    assert decision.action is RetryAction.RETRY and decision.retry_delay == delay


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("bad"), ValidationError("bad input"), InvalidRequestError("-3"),
     AmbiguousSendError("may have been sent", reference="r")],
)
def test_errors_a_retry_cannot_fix_fail_now(error) -> None:
    assert policy.evaluate(error, try_number=1, max_tries=3).action is RetryAction.FAIL


def test_wrapped_provider_errors_are_found_and_others_use_defaults() -> None:
    try:
        try:
            raise RateLimitedError("slow", retry_after=60)
        except RateLimitedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert policy.evaluate(outer, 1, 3).retry_delay == timedelta(seconds=60)
    assert policy.evaluate(KeyError("x"), 1, 3).action is RetryAction.DEFAULT


def test_serialisation_round_trip() -> None:
    copy = MensatekRetryPolicy.deserialize(policy.serialize())
    assert (copy.min_delay, copy.max_delay) == (policy.min_delay, policy.max_delay)
