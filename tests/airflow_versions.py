"""The Airflow version the suite runs on, and the one mark for tests that need a newer one.

CI runs the suite on the newest Airflow and on the provider's floor (``make test-floor``).
A test that exercises a feature the floor lacks says so with :func:`needs_airflow`, so
the floor job skips exactly those, each with its reason, and nothing else.
Read from the distribution metadata: importing airflow here would fix its home too early.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from packaging.version import Version

AIRFLOW_VERSION_TEXT = version("apache-airflow-core")
AIRFLOW_VERSION: tuple[int, ...] = Version(AIRFLOW_VERSION_TEXT).release[:2]


def missing_reason(minimum: tuple[int, int], feature: str) -> str:
    """The skip reason of a test that needs ``feature``, new in Airflow ``minimum``."""
    return f"needs Airflow {minimum[0]}.{minimum[1]} ({feature}); this is Airflow {AIRFLOW_VERSION_TEXT}"


def needs_airflow(minimum: tuple[int, int], feature: str) -> pytest.MarkDecorator:
    """Skip on an Airflow older than ``minimum``, naming the feature that is missing there."""
    return pytest.mark.skipif(AIRFLOW_VERSION < minimum, reason=missing_reason(minimum, feature))

