"""``send_at`` as a wait reads it: what the send operators accept, and the vendor's text their XCom carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.send_at import send_at_timestamp


def test_the_operators_xcom_text_is_read_as_madrid_time_and_a_past_time_is_fine() -> None:
    # 2026-01-15 10:00 in Madrid is 09:00 UTC (CET, +01:00).
    assert send_at_timestamp("2026-01-15 10:00") == datetime(2026, 1, 15, 9, 0, tzinfo=UTC).timestamp()
    assert send_at_timestamp("2026-01-15T10:00:00+01:00") == datetime(2026, 1, 15, 9, tzinfo=UTC).timestamp()
    assert send_at_timestamp(datetime(2020, 1, 1, tzinfo=UTC)) == datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    assert send_at_timestamp(None) is None


@pytest.mark.parametrize("value", ["", "None", "null", "2026-01-15T10:00:00", "tomorrow"])
def test_missing_or_ambiguous_values_are_refused_as_the_operators_refuse_them(value: str) -> None:
    with pytest.raises(ValidationError):
        send_at_timestamp(value)
