"""Deferrable waits: triggers that read delivery / signature status until a wait is over.

One trigger per deferred sensor. Each runs the same :class:`DeliveryWaiter`,
:class:`PollPolicy` and sync vendor client as the sensor. The client is shared
by every trigger of its connection in the process (:mod:`.shared_clients`),
its HTTP runs in the provider's bounded thread pool (:mod:`.thread_pool`), and
every wait (a LegallyMail rate-limit slot above all) is awaited in the event
loop, never slept in a thread: a backlog of LegallyMail waits behind their 10
requests a minute never delays anyone else's check.

Triggers only read status: a triggerer restart replays a trigger from its
serialised kwargs, so a trigger must never send anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob
from airflow_provider_mensatek.clients.errors import MensatekError, ValidationError
from airflow_provider_mensatek.delivery import fetchers, waiting
from airflow_provider_mensatek.delivery.floors import check_poll_floor, floors_apply
from airflow_provider_mensatek.delivery.wait_modes import REPORT_CHANNELS, WAIT_POLL, WAIT_REPORTS
from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, Fetch
from airflow_provider_mensatek.triggers import shared_clients, thread_pool

if TYPE_CHECKING:
    from airflow_provider_mensatek.delivery.report_waiting import ReportWait

EVENT_ERROR = "error"

#: Status channel -> the fetch function reading it through a vendor client. Shared with the sensors.
CHANNELS: dict[str, Callable[[Any], Fetch]] = {
    "mensatek.certified_email": fetchers.mensatek_certified_email,
    "mensatek.sms": fetchers.mensatek_sms,
    "legallymail.email": fetchers.legallymail_email,
    "legallymail.signature": fetchers.legallymail_signature,
    "legallymail.sms": fetchers.legallymail_sms,
}


def vendor_of(channel: str) -> str:
    return channel.split(".")[0]


def make_fetch(channel_name: str, conn_id: str) -> tuple[Fetch, Any]:
    """The fetch function and a client of its own behind it, for a sensor (close the client when done)."""
    client: Any
    if vendor_of(channel_name) == "mensatek":
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        client = MensatekHook(mensatek_conn_id=conn_id).get_conn()
    else:
        from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook

        client = LegallyMailHook(legallymail_conn_id=conn_id).get_conn()
    return CHANNELS[channel_name](client), client


class DeliveryStatusTrigger(BaseTrigger):
    """Polls the vendor politely until a set of messages reached a status; yields one event.

    Event payload: ``{"status": "success" | "failed" | "error", "message": str,
    "result": {...per-id reports...}}``.

    :param message_ids: the ids still waited for, as strings.
    :param target: the DeliveryStatus value to wait for.
    :param min_fraction: share of ids that must reach it.
    :param state: :meth:`DeliveryWaiter.state` at deferral, so the backoff continues
        (:meth:`ReportWait.state` when ``wait_for`` is ``"reports"``).
    :param conn_id: the Airflow connection of the vendor.
    :param wait_for: ``"poll"`` (ask the vendor on the poll policy) or ``"reports"`` (listen to the
        reports the receiver stores; ask the vendor only to reconcile a long silence). Mensatek only.
    """

    #: Set by each subclass: the status channel it reads (a key of :data:`CHANNELS`).
    channel: ClassVar[str]

    def __init__(self, *, message_ids: list[str], target: str, min_fraction: float, state: dict[str, Any],
                 conn_id: str, wait_for: str = WAIT_POLL) -> None:
        super().__init__()
        self.message_ids = [str(i) for i in message_ids]
        self.target = target
        self.min_fraction = min_fraction
        self.state = state
        self.conn_id = conn_id
        self.wait_for = wait_for

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"message_ids": self.message_ids, "target": self.target, "min_fraction": self.min_fraction,
             "state": self.state, "conn_id": self.conn_id, "wait_for": self.wait_for},
        )

    def _resume(self, fetch: Fetch, client: Any) -> DeliveryWaiter | ReportWait:
        """The waiter of the serialised state, checked as the sensor checked it (no HTTP).

        A trigger is rebuilt from kwargs stored in the database, which can be
        edited: ids and a policy too fast for the vendor are refused here too.
        """
        fetchers.check_keys(self.channel, self.message_ids)
        if self.wait_for not in (WAIT_POLL, WAIT_REPORTS) or (
                self.wait_for == WAIT_REPORTS and self.channel not in REPORT_CHANNELS):
            raise ValidationError(f"{type(self).__name__} cannot wait for {self.wait_for!r}")
        from airflow_provider_mensatek.delivery.report_waiting import ReportWait, check_reconcile_after

        try:
            if self.wait_for == WAIT_REPORTS:
                wait = ReportWait.resume(fetch, self.state, target=self.target, min_fraction=self.min_fraction,
                                         clock=waiting.CLOCK.now)
                check_reconcile_after(wait.reconcile_after, floors_apply=floors_apply(client.base_url))
                waiter = wait.waiter
            else:
                waiter = DeliveryWaiter.resume(fetch, self.state, target=self.target,
                                               min_fraction=self.min_fraction, clock=waiting.CLOCK.now)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f"Malformed trigger state ({type(exc).__name__}: {exc})") from None
        fetchers.check_keys(self.channel, list(waiter.schedule.messages))
        check_poll_floor(self.channel.split(".")[0], waiter.schedule.policy, client.base_url)
        return wait if self.wait_for == WAIT_REPORTS else waiter

    async def run(self) -> AsyncIterator[TriggerEvent]:
        clock = waiting.CLOCK
        job = LoopJob()
        client = await thread_pool.run(job, lambda: shared_clients.acquire(vendor_of(self.channel), self.conn_id))
        try:
            try:
                waiter = self._resume(CHANNELS[self.channel](client), client)
            except MensatekError as exc:
                yield TriggerEvent({"status": EVENT_ERROR, "message": str(exc), "error": type(exc).__name__,
                                    "result": None})
                return
            if not isinstance(waiter, DeliveryWaiter):
                from airflow_provider_mensatek.triggers.report_listening import listen

                try:
                    async with aclosing(listen(waiter, job, REPORT_CHANNELS[self.channel], self.log)) as events:
                        async for event in events:
                            yield event
                            return
                except MensatekError as exc:
                    # A reconcile poll refused, as when polling: the credential is not asked again and again.
                    yield TriggerEvent({"status": EVENT_ERROR, "message": str(exc), "error": type(exc).__name__,
                                        "result": None})
                return
            while True:
                try:
                    # The time is read in the pool thread: the check is due by then, whatever it waited for.
                    outcome = await thread_pool.run(job, lambda: waiter.poll(clock.now()))
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
            shared_clients.release(client)


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
