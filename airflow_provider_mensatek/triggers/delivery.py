"""Deferrable waits: triggers that read delivery / signature status until a wait is over.

One trigger per deferred sensor. Each runs the same :class:`DeliveryWaiter`,
:class:`PollPolicy` and sync vendor client as the sensor, the client through
``asyncio.to_thread``, so the triggerer's event loop never blocks on HTTP and
every trigger of a credential shares the process-wide rate limiter.

Triggers only read status: a triggerer restart replays a trigger from its
serialised kwargs, so a trigger must never send anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mensatek.clients.errors import MensatekError, ValidationError
from airflow_provider_mensatek.delivery import fetchers, waiting
from airflow_provider_mensatek.delivery.floors import check_poll_floor
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, Fetch

EVENT_ERROR = "error"


def _mensatek_client(conn_id: str) -> Any:
    from airflow_provider_mensatek.hooks.mensatek import MensatekHook

    return MensatekHook(mensatek_conn_id=conn_id).get_conn()


#: Status channel -> (connection id -> (fetch, client)). Shared with the sensors.
CHANNELS: dict[str, Callable[[str], tuple[Fetch, Any]]] = {}


def channel(name: str) -> Callable[[Callable[[str], tuple[Fetch, Any]]], Callable[[str], tuple[Fetch, Any]]]:
    def register(factory: Callable[[str], tuple[Fetch, Any]]) -> Callable[[str], tuple[Fetch, Any]]:
        CHANNELS[name] = factory
        return factory

    return register


@channel("mensatek.certified_email")
def _certified_email(conn_id: str) -> tuple[Fetch, Any]:
    client = _mensatek_client(conn_id)
    return fetchers.mensatek_certified_email(client), client


@channel("mensatek.sms")
def _mensatek_sms(conn_id: str) -> tuple[Fetch, Any]:
    client = _mensatek_client(conn_id)
    return fetchers.mensatek_sms(client), client


def _legallymail_client(conn_id: str) -> Any:
    from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook

    return LegallyMailHook(legallymail_conn_id=conn_id).get_conn()


@channel("legallymail.email")
def _legallymail_email(conn_id: str) -> tuple[Fetch, Any]:
    client = _legallymail_client(conn_id)
    return fetchers.legallymail_email(client), client


@channel("legallymail.signature")
def _legallymail_signature(conn_id: str) -> tuple[Fetch, Any]:
    client = _legallymail_client(conn_id)
    return fetchers.legallymail_signature(client), client


@channel("legallymail.sms")
def _legallymail_sms(conn_id: str) -> tuple[Fetch, Any]:
    client = _legallymail_client(conn_id)
    return fetchers.legallymail_sms(client), client


def make_fetch(channel_name: str, conn_id: str) -> tuple[Fetch, Any]:
    """The fetch function and the client behind it (close the client when done)."""
    return CHANNELS[channel_name](conn_id)


class DeliveryStatusTrigger(BaseTrigger):
    """Polls the vendor politely until a set of messages reached a status; yields one event.

    Event payload: ``{"status": "success" | "failed" | "error", "message": str,
    "result": {...per-id reports...}}``.

    :param message_ids: the ids still waited for, as strings.
    :param target: the DeliveryStatus value to wait for.
    :param min_fraction: share of ids that must reach it.
    :param state: :meth:`DeliveryWaiter.state` at deferral, so the backoff continues.
    :param conn_id: the Airflow connection of the vendor.
    """

    #: Set by each subclass: the status channel it reads (a key of :data:`CHANNELS`).
    channel: ClassVar[str]

    def __init__(self, *, message_ids: list[str], target: str, min_fraction: float, state: dict[str, Any],
                 conn_id: str) -> None:
        super().__init__()
        self.message_ids = [str(i) for i in message_ids]
        self.target = target
        self.min_fraction = min_fraction
        self.state = state
        self.conn_id = conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"message_ids": self.message_ids, "target": self.target, "min_fraction": self.min_fraction,
             "state": self.state, "conn_id": self.conn_id},
        )

    def _resume(self, fetch: Fetch, client: Any) -> DeliveryWaiter:
        """The waiter of the serialised state, checked as the sensor checked it (no HTTP).

        A trigger is rebuilt from kwargs stored in the database, which can be
        edited: ids and a policy too fast for the vendor are refused here too.
        """
        fetchers.check_keys(self.channel, self.message_ids)
        try:
            waiter = DeliveryWaiter.resume(fetch, self.state, target=self.target,
                                           min_fraction=self.min_fraction, clock=waiting.CLOCK.now)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f"Malformed trigger state ({type(exc).__name__}: {exc})") from None
        fetchers.check_keys(self.channel, list(waiter.schedule.messages))
        check_poll_floor(self.channel.split(".")[0], waiter.schedule.policy, client.base_url)
        return waiter

    async def run(self) -> AsyncIterator[TriggerEvent]:
        clock = waiting.CLOCK
        fetch, client = await asyncio.to_thread(make_fetch, self.channel, self.conn_id)
        try:
            try:
                waiter = self._resume(fetch, client)
            except MensatekError as exc:
                yield TriggerEvent({"status": EVENT_ERROR, "message": str(exc), "error": type(exc).__name__,
                                    "result": None})
                return
            while True:
                try:
                    outcome = await asyncio.to_thread(waiter.poll, clock.now())
                except MensatekError as exc:
                    # Authentication failures and vendor refusals end the wait: a
                    # repeat would be the "looping erroneous connection" the vendors block.
                    yield TriggerEvent({"status": EVENT_ERROR, "message": str(exc),
                                        "error": type(exc).__name__, "result": None})
                    return
                if outcome.finished:
                    yield TriggerEvent({"status": outcome.kind, "message": outcome.message,
                                        "result": outcome.result})
                    return
                assert outcome.next_check_at is not None  # a running wait always has a next check
                self.log.info("%s; next status check in %.0f s", outcome.message,
                              outcome.next_check_at - clock.now())
                await clock.async_sleep(outcome.next_check_at - clock.now())
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()


class MensatekCertifiedEmailTrigger(DeliveryStatusTrigger):
    """Waits for Mensatek certified emails (``GetReportEMAILCERTIFICADO``, one call per id)."""

    channel = "mensatek.certified_email"


class MensatekSmsDeliveryTrigger(DeliveryStatusTrigger):
    """Waits for Mensatek SMS sends (``GetReportSMS``, one call per id, every phone of the id)."""

    channel = "mensatek.sms"


class LegallyMailEmailTrigger(DeliveryStatusTrigger):
    """Waits for LegallyMail certified emails (``GET /emails`` once for many, ``GET /email`` per send)."""

    channel = "legallymail.email"


class LegallyMailSignatureTrigger(DeliveryStatusTrigger):
    """Waits for LegallyMail signature requests (``GET /signatures`` once for many, ``GET /signature``)."""

    channel = "legallymail.signature"


class LegallyMailSmsTrigger(DeliveryStatusTrigger):
    """Waits for LegallyMail certified SMS (``GET /sms`` per id)."""

    channel = "legallymail.sms"
