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
from airflow_provider_mensatek.clients.legallymail.checks import check_identifier
from airflow_provider_mensatek.clients.validation import check_message_id
from airflow_provider_mensatek.delivery.statuses import aggregate, classify, vendor_state
from airflow_provider_mensatek.delivery.waiting import Fetch, Observation, normalise_ids

Answer = tuple[str, Observation | MensatekError]

#: The most a LegallyMail list call returns (``limit`` 1-25, documented).
MAX_LIST_LIMIT = 25

_XCOM_HINT = ("pass the send task's ids, e.g. \"{{ ti.xcom_pull(task_ids='send')['message_ids'] | tojson }}\"")


def _as_message_id(key: str) -> int:
    try:
        return check_message_id(key)
    except ValidationError as exc:
        raise ValidationError(f"Mensatek message ids are whole numbers (idMensaje): {exc.message}; "
                              f"{_XCOM_HINT}") from None


def check_keys(channel: str, ids: Any) -> list[str]:
    """The ids of a wait on ``channel`` as keys, every one in the form that channel's vendor uses.

    Called when a wait starts, so an id no status call could ever use fails the
    task at once instead of at the first check, minutes later.
    """
    keys = normalise_ids(ids)
    for key in keys:
        if channel.startswith("mensatek."):
            _as_message_id(key)
        else:
            try:
                check_identifier(key, "LegallyMail id")
            except ValidationError as exc:
                raise ValidationError(f"{exc.message}; {_XCOM_HINT}", vendor="legallymail") from None
    return keys


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


def mensatek_sms(client: Any) -> Fetch:
    """GetReportSMS, one call per id; an id sent to several phones is judged on all of them."""

    def fetch(keys: Sequence[str]) -> Iterator[Answer]:
        for key in keys:
            try:
                report = client.get_sms_report(_as_message_id(key))
            except NotFoundError as exc:
                yield key, exc
                continue
            states = [vendor_state(entry) for entry in report.entries]
            details = report.to_dict()
            # Sensors and triggers hand these details on (XCom, trigger events): each phone
            # carries its status in the provider's vocabulary, as the report is judged.
            for entry, state in zip(details["entries"], states, strict=True):
                entry.update(status=state.status.value, terminal=state.terminal)
            parts = [(entry.phone, state) for entry, state in zip(report.entries, states, strict=True)]
            yield key, Observation(key, aggregate("mensatek.sms", parts), details)

    return fetch


def legallymail_email(client: Any) -> Fetch:
    """Certified emails by tracking id (a whole send, or one recipient of it).

    Coalesced: with several ids due, one ``GET /emails?limit=25`` answers every
    recent single-recipient send; each ``GET /email`` answers for every recipient
    of its send (whichever recipient's id was asked), so a multi-recipient send
    costs one call however many of its recipients are waited for.
    """

    # Ids learnt to belong to a multi-recipient send -> that send's tracking id, so the
    # list call is skipped for them (its rows only carry the send's overall status).
    send_of: dict[str, str] = {}
    # Ids a list call did not serve: the list holds the latest sends, so it never will (newer sends
    # only push them further back). A round interrupted for a rate-limit slot then resumes with
    # the single calls it still owes instead of paying for the list call again.
    unlisted: set[str] = set()

    def fetch(keys: Sequence[str]) -> Iterator[Answer]:
        served: set[str] = set()
        if len([k for k in keys if k not in send_of and k not in unlisted]) > 1:
            for summary in client.list_emails(MAX_LIST_LIMIT):
                tid = summary.tracking_id
                if tid in keys and not summary.is_multi_recipient:
                    served.add(tid)
                    yield tid, Observation(tid, vendor_state(summary), summary.to_dict())
            unlisted.update(k for k in keys if k not in served)
        for key in keys:
            if key in served:
                continue
            try:
                email = client.get_email(send_of.get(key, key))
            except NotFoundError as exc:
                yield key, exc
                continue
            parts = []
            for recipient in email.recipients:
                parts.append((recipient.email, vendor_state(recipient)))
                if recipient.tracking_id:
                    served.add(recipient.tracking_id)
                    if email.tracking_id and len(email.recipients) > 1:
                        send_of[recipient.tracking_id] = email.tracking_id
                    yield recipient.tracking_id, Observation(recipient.tracking_id, vendor_state(recipient),
                                                             recipient.to_dict())
            if email.tracking_id and email.tracking_id not in served:
                served.add(email.tracking_id)
                whole = aggregate("legallymail.email", parts) if parts else vendor_state(email)
                yield email.tracking_id, Observation(email.tracking_id, whole, email.to_dict())

    return fetch


def legallymail_signature(client: Any) -> Fetch:
    """Signature requests by uuid; with several due, one ``GET /signatures?limit=25`` serves the recent ones."""

    # As for emails: a request the list did not show, it never will.
    unlisted: set[str] = set()

    def fetch(keys: Sequence[str]) -> Iterator[Answer]:
        served: set[str] = set()
        if len([k for k in keys if k not in unlisted]) > 1:
            for summary in client.list_signatures(MAX_LIST_LIMIT):
                if summary.uuid in keys:
                    served.add(summary.uuid)
                    yield summary.uuid, Observation(summary.uuid, vendor_state(summary), summary.to_dict())
            unlisted.update(k for k in keys if k not in served)
        for key in keys:
            if key in served:
                continue
            try:
                signature = client.get_signature(key)
            except NotFoundError as exc:
                yield key, exc
                continue
            yield key, Observation(key, vendor_state(signature), signature.to_dict())

    return fetch


def legallymail_sms(client: Any) -> Fetch:
    """Certified SMS by uuid (``GET /sms``; the API has no list call for SMS)."""

    def fetch(keys: Sequence[str]) -> Iterator[Answer]:
        for key in keys:
            try:
                sms = client.get_sms(key)
            except NotFoundError as exc:
                yield key, exc
                continue
            yield key, Observation(key, vendor_state(sms), sms.to_dict())

    return fetch
