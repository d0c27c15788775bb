"""Status fetchers: one per channel, turning client calls into :class:`Observation` s.

A fetcher receives the ids that are due and yields what it learnt. It asks
the vendor as few times as the API allows: one call per id where the API has
nothing better, one list call for many ids where it has. Errors about one id
(unknown, no permission) are yielded for that id; errors about the credential
(authentication, rate limit) are raised and end the round.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_mensatek.clients.errors import MensatekError, NotFoundError, ValidationError
from airflow_provider_mensatek.clients.statuses import classify
from airflow_provider_mensatek.clients.waiting import Fetch, Observation

Answer = tuple[str, Observation | MensatekError]


def _as_message_id(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise ValidationError(f"Mensatek message ids are numbers, got {key!r}") from None


def mensatek_certified_email(client: Any) -> Fetch:
    """GetReportEMAILCERTIFICADO, one call per id (the API has no multi-id report)."""

    def fetch(keys: Sequence[str]) -> Iterator[Answer]:
        for key in keys:
            try:
                report = client.get_certified_email_report(_as_message_id(key))
            except NotFoundError as exc:
                yield key, exc
                continue
            status = classify("mensatek.certified_email", report.status_code, report.status_text)
            yield key, Observation(key, status, report.to_dict())

    return fetch
