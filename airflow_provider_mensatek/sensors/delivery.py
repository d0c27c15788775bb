"""Sensors that wait for delivery, certification or signature without upsetting the vendors.

Every status query goes through :class:`PollPolicy` (a first check not before
an initial delay, jittered exponential backoff to a ceiling, a cap on checks,
Retry-After honoured), whatever the mode:

* ``poke``: one worker slot, sleeping until the next message is due;
* ``reschedule``: the slot is freed between checks; the schedule is kept in
  the task state store, so the backoff continues instead of starting over
  (Airflow < 3.3 has no store: the schedule is rebuilt from the first try's
  start, see ``_no_state_store.py``);
* ``deferrable=True``: the wait moves to the triggerer (see
  :mod:`airflow_provider_mensatek.triggers.delivery`).

``poke_interval``, ``exponential_backoff`` and ``max_wait`` of
BaseSensorOperator are not used: their jitter can halve the first wait, which
breaks vendor minimums. Use ``poll_policy`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_mensatek.clients.errors import PERMANENT_ERRORS, MensatekError
from airflow_provider_mensatek.delivery.wait_modes import (
    RECONCILE_AFTER,
    WAIT_AUTO,
    WAIT_POLL,
    WAIT_REPORTS,
    check_wait_for,
)
from airflow_provider_mensatek.operators._context_names import ContextNamesOperator
from airflow_provider_mensatek.sensors._reports import report_inlets

if TYPE_CHECKING:
    from airflow_provider_mensatek.delivery.polling import PollPolicy
    from airflow_provider_mensatek.delivery.report_waiting import ReportWait
    from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, WaitOutcome

# The waiting machinery (delivery/: statuses, fetchers, the vendor clients behind them) and the
# triggers are imported where a wait runs, not when a DAG file naming a sensor is parsed.

#: Task state store key of a running wait (kept across reschedules, dropped when it ends).
WAIT_STATE_KEY = "mensatek.wait"


class DeliveryStatusSensor(ContextNamesOperator, BaseSensorOperator):
    """Base of the provider's status sensors; subclasses name the channel and the trigger.

    Templates are rendered as the operators render them: a field naming ``{{ ds }}`` (or another name only
    runs with a logical date have) in a run without one fails once, saying so and naming the field,
    instead of with Jinja's bare UndefinedError, which Airflow would retry to the same end.

    :param message_ids: one id or a list of ids (a whole campaign) returned by the send operator. Checked
        when the task starts: an id the vendor could never answer for fails it at once.
    :param target: the status to wait for: ``sent``, ``delivered``, ``opened``, ``read``,
        ``certified``, ``accepted`` or ``signed``.
    :param min_fraction: share of the ids that must reach ``target`` (default 1: all). The sensor fails as
        soon as too many ids ended without reaching it (bounced, rejected, expired, phone does not exist
        …), naming each id with the vendor's own status text; with ``soft_fail=True`` it skips instead.
    :param poll_policy: overrides of the vendor's default PollPolicy, e.g. ``{"max_interval": 1800}``
        (``initial_delay``, ``min_interval``, ``max_interval``, ``multiplier``, ``jitter``,
        ``max_checks``), or a whole PollPolicy. A policy faster than the vendor accepts (Mensatek: 60 s,
        LegallyMail: 6 s for ``initial_delay`` and ``min_interval``) fails the task before any request,
        except against a loopback host (the local sandbox); see ``delivery/floors.py``.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :return: (XCom) ``{"target", "min_fraction", "reached": [ids], "failed": [ids], "gave_up": [ids],
        "pending": [ids], "checks", "reports": {id: {"code", "text", "status", "reached", "terminal",
        "failure", "checks", ...vendor report fields}}}``.
    """

    template_fields: Sequence[str] = ("message_ids", "target", "min_fraction", "poll_policy")
    ui_color = "#e8f4e0"

    #: Set by subclasses. ``trigger_name`` names a class of ``triggers/delivery.py`` (imported when deferring).
    vendor: ClassVar[str]
    channel: ClassVar[str]
    trigger_name: ClassVar[str]

    def __init__(
        self,
        *,
        message_ids: Any,
        target: str,
        min_fraction: float = 1.0,
        poll_policy: Mapping[str, Any] | PollPolicy | None = None,
        deferrable: bool | None = None,
        conn_id: str,
        wait_for: str = WAIT_POLL,
        reconcile_after: float | timedelta = RECONCILE_AFTER,
        **kwargs: Any,
    ) -> None:
        wait_for = check_wait_for(wait_for, self.channel)
        kwargs["inlets"] = report_inlets(self.channel, wait_for, kwargs.get("inlets"))
        super().__init__(**kwargs)
        self.message_ids = message_ids
        self.target = target
        self.min_fraction = min_fraction
        self.poll_policy = poll_policy
        self.deferrable = (conf.getboolean("operators", "default_deferrable", fallback=False)
                           if deferrable is None else deferrable)
        self.conn_id = conn_id
        self.wait_for = wait_for
        self.reconcile_after = reconcile_after
        self._waiter: DeliveryWaiter | None = None
        #: The wait in webhook mode (its waiter is :attr:`_waiter`), None when polling.
        self._listening: ReportWait | None = None
        self._client: Any = None
        self._outcome: WaitOutcome | None = None

    # -- the wait ------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        try:
            try:
                waiter = self._prepare(context)
            except PERMANENT_ERRORS as exc:
                raise AirflowFailException(str(exc)) from exc
            if self.deferrable and self._listening is None:
                self._defer(waiter)
            while True:
                try:
                    done = self.poke(context)
                except AirflowFailException as exc:
                    self._forget(context)
                    if self.soft_fail:
                        raise AirflowSkipException(str(exc)) from exc
                    raise
                if done:
                    self._forget(context)
                    return done.xcom_value
                if self.deferrable:
                    self._defer(waiter)  # listening: after one look, as a report may have come first
                self._wait(context, waiter)
        finally:
            self._close()

    def poke(self, context: Context) -> PokeReturnValue:
        """One round: ask about the messages that are due (maybe none) and judge the wait."""
        from airflow_provider_mensatek.delivery import waiting
        from airflow_provider_mensatek.delivery.waiting import OUTCOME_FAILED, OUTCOME_SUCCESS

        waiter = self._waiter or self._prepare(context)
        try:
            if self._listening is not None:
                from airflow_provider_mensatek.sensors._reports import look

                outcome = look(self._listening, self.channel, waiting.CLOCK.now(), self.log)
            else:
                outcome = waiter.poll(waiting.CLOCK.now())
        except PERMANENT_ERRORS as exc:
            raise AirflowFailException(str(exc)) from exc
        self._outcome = outcome
        if outcome.kind == OUTCOME_FAILED:
            raise AirflowFailException(outcome.message)
        self.log.info("%s", outcome.message)
        return PokeReturnValue(outcome.kind == OUTCOME_SUCCESS,
                               outcome.result if outcome.kind == OUTCOME_SUCCESS else None)

    def _wait(self, context: Context, waiter: DeliveryWaiter) -> None:
        from airflow_provider_mensatek.delivery import waiting

        clock = waiting.CLOCK
        now = clock.now()
        deadline = waiter.schedule.started_at + self.timeout
        if now >= deadline:
            self._forget(context)
            message = (f"Sensor timed out after {self.timeout:.0f} s: "
                       f"{self._outcome.message if self._outcome else 'no status checked in this try'}")
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        next_check = self._outcome.next_check_at if self._outcome else None
        wake = min(next_check if next_check is not None else deadline, deadline)
        if self._listening is not None:
            # The stored reports are read every poke_interval; the vendor is asked only to reconcile.
            warning = self._listening.next_warning_at()
            wake = min(wake, now + self.poke_interval, warning if warning is not None else wake)
        self.log.info("Next %s in %.0f s", "look at the reports" if self._listening else "status check", wake - now)
        if self.reschedule:
            self._save(context, waiter)
            raise AirflowRescheduleException(clock.wall_time(wake))
        self._save(context, waiter)
        clock.sleep(wake - now)

    def _defer(self, waiter: DeliveryWaiter) -> None:
        from airflow_provider_mensatek.delivery import waiting
        from airflow_provider_mensatek.triggers import delivery as triggers

        remaining = waiter.schedule.started_at + self.timeout - waiting.CLOCK.now()
        self.defer(
            trigger=getattr(triggers, self.trigger_name)(
                message_ids=list(waiter.schedule.messages), target=waiter.target.value,
                min_fraction=waiter.min_fraction, conn_id=self.conn_id,
                **({"state": self._listening.state(), "wait_for": WAIT_REPORTS} if self._listening
                   else {"state": waiter.state()}),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(remaining, 0.0)),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Any:
        """Resume after the trigger: return the reports, or fail with the vendor's words."""
        from airflow_provider_mensatek.delivery.waiting import OUTCOME_FAILED, OUTCOME_SUCCESS
        from airflow_provider_mensatek.triggers.delivery import EVENT_ERROR

        self._forget(context)
        status = event.get("status")
        if status == OUTCOME_SUCCESS:
            self.log.info("%s", event.get("message"))
            return event.get("result")
        if status in (OUTCOME_FAILED, EVENT_ERROR):
            # resume_execution turns AirflowException into a skip when soft_fail is set.
            raise AirflowFailException(str(event.get("message")))
        raise AirflowException(f"Unexpected trigger event {event!r}")

    # -- state -----------------------------------------------------------------

    def _prepare(self, context: Context) -> DeliveryWaiter:
        """Validate the arguments (no HTTP), then resume a stored wait or start a new one.

        Runs in ``execute`` after the templates rendered, before the first wait
        or deferral: bad ids and a policy faster than the vendor accepts fail
        the task now, not at the first check minutes later.
        """
        from airflow_provider_mensatek.delivery import waiting
        from airflow_provider_mensatek.delivery.fetchers import check_keys
        from airflow_provider_mensatek.delivery.floors import check_poll_floor, floors_apply
        from airflow_provider_mensatek.delivery.polling import policy_for
        from airflow_provider_mensatek.delivery.report_waiting import ReportWait, check_reconcile_after
        from airflow_provider_mensatek.delivery.statuses import parse_target
        from airflow_provider_mensatek.delivery.waiting import DeliveryWaiter, check_fraction
        from airflow_provider_mensatek.sensors._reports import expected_phones, resolve_wait_for
        from airflow_provider_mensatek.triggers.delivery import make_fetch

        keys = check_keys(self.channel, self.message_ids)
        target = parse_target(self.target)
        fraction = check_fraction(self.min_fraction)
        policy = policy_for(self.vendor, self.poll_policy)
        fetch, self._client = make_fetch(self.channel, self.conn_id)
        base_url = self._client.base_url
        check_poll_floor(self.vendor, policy, base_url)
        mode = resolve_wait_for(self.wait_for, self.channel, self.conn_id)
        reconcile = (check_reconcile_after(self.reconcile_after, floors_apply=floors_apply(base_url))
                     if mode == WAIT_REPORTS else 0.0)
        send_at = self._send_time()
        stored = self._store_get(context)
        identity = self._identity(keys, target.value, mode)
        clock = waiting.CLOCK
        self._listening = None
        if isinstance(stored, Mapping) and stored.get("identity") == identity:
            self.log.info("Continuing the stored schedule (no fresh burst of checks)")
            if mode == WAIT_REPORTS:
                self._listening = ReportWait.resume(fetch, stored["state"], target=target, min_fraction=fraction,
                                                    clock=clock.now)
                waiter = self._listening.waiter
            else:
                waiter = DeliveryWaiter.resume(fetch, stored["state"], target=target, min_fraction=fraction,
                                               clock=clock.now)
            check_poll_floor(self.vendor, waiter.schedule.policy, base_url)
        elif mode == WAIT_REPORTS:
            self._listening = ReportWait.start(fetch, keys, target=target, min_fraction=fraction, policy=policy,
                                               now=clock.now(), reconcile_after=reconcile, clock=clock.now,
                                               expected=expected_phones(self._phones(), keys), send_at=send_at)
            waiter = self._listening.waiter
        elif self.reschedule and not self.deferrable and context.get("task_state_store") is None:
            from airflow_provider_mensatek.sensors._no_state_store import schedule_from_first_try

            waiter = DeliveryWaiter(fetch, target=target, min_fraction=fraction, clock=clock.now,
                                    schedule=schedule_from_first_try(context, policy, keys, clock))
            if clock.now() >= waiter.schedule.started_at + self.timeout:
                # The try the deadline woke: the check due before it was made by an earlier try, unknown here.
                self._wait(context, waiter)
        else:
            waiter = DeliveryWaiter.start(fetch, keys, target=target, min_fraction=fraction, policy=policy,
                                          now=clock.now(), clock=clock.now)
        if self._listening is not None:
            self.log.info("Listening to Mensatek's reports; a message without news for %g h gets one status check",
                          self._listening.reconcile_after / 3600)
        self._waiter = waiter
        return waiter

    def _phones(self) -> Any:
        """Phones per SMS message (the SMS sensor's ``phones_per_message``)."""
        return None

    def _send_time(self) -> float | None:
        """When the messages go out, if the sensor was told (the Mensatek sensors' ``send_at``)."""
        return None

    @staticmethod
    def _identity(keys: list[str], target: str, mode: str = WAIT_POLL) -> dict[str, Any]:
        identity: dict[str, Any] = {"ids": keys, "target": target}
        if mode != WAIT_POLL:  # a wait stored by a poll-only version of this sensor still matches
            identity["wait_for"] = mode
        return identity

    def _store_get(self, context: Context) -> Any:
        store = context.get("task_state_store")
        return store.get(WAIT_STATE_KEY) if store is not None else None

    def _save(self, context: Context, waiter: DeliveryWaiter) -> None:
        store = context.get("task_state_store")
        if store is None:
            if self.reschedule:
                self.log.warning("No task state store (Airflow < 3.3): the next try asks again about every "
                                 "message; the backoff and the timeout count from the first try")
            return
        mode = WAIT_REPORTS if self._listening is not None else WAIT_POLL
        identity = self._identity(list(waiter.schedule.messages), waiter.target.value, mode)
        state = self._listening.state() if self._listening is not None else waiter.state()
        store.set(WAIT_STATE_KEY, {"identity": identity, "state": state})

    def _forget(self, context: Context) -> None:
        store = context.get("task_state_store")
        if store is not None:
            store.delete(WAIT_STATE_KEY)

    def _close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except MensatekError:
                pass
            self._client = None
        self._waiter = None
        self._listening = None


class MensatekCertifiedEmailSensor(DeliveryStatusSensor):
    """Wait for Mensatek certified emails to be delivered / certified / read (``GetReportEMAILCERTIFICADO``).

    The default policy waits 5 minutes before the first check and backs off to one check per hour:
    Mensatek treats status queries in a loop as an attack. Prefer webhooks when you can.

    :param message_ids: ``idMensaje`` value(s) from :class:`MensatekSendCertifiedEmailOperator`
        (``message_ids`` in its XCom) -> ``Idmensaje``, one report call per id.
    :param target: default ``certified`` (codes 14 and 11; 17, 160 and 181 for an EMAIL Contract);
        ``read`` needs 11 (or a contract code).
    :param mensatek_conn_id: the ``mensatek`` connection.
    :param wait_for: ``"auto"`` (default: listen to the real-time reports when the connection's extra says
        ``"reports": true``, else poll), ``"reports"`` or ``"poll"``. Listening makes no vendor call while
        reports arrive (see the README, "Waiting for reports").
    :param reconcile_after: in webhook mode, the silence (seconds or a timedelta; default 6 h, at least
        1 h against the real vendor) after which a message gets one status check, for a lost report.
    :param send_at: in webhook mode, when the messages were scheduled to go out (the send operator's
        ``send_at``: an aware datetime or ISO string, or the vendor's ``YYYY-MM-DD HH:MM`` Europe/Madrid text
        its XCom carries, e.g. ``"{{ ti.xcom_pull('send')['send_at'] }}"`` for a scheduled send). A scheduled
        message has nothing to report before then, so its silence counts from it: no status check before
        ``send_at + reconcile_after``. Default None: unknown (the silence counts from the start). As for the
        operators, an empty or ``"None"`` text is refused (a template whose value was missing).

    See :class:`DeliveryStatusSensor` for ``min_fraction``, ``poll_policy``, ``deferrable`` and the XCom.
    """

    template_fields: Sequence[str] = (*DeliveryStatusSensor.template_fields, "send_at")
    vendor = "mensatek"
    channel = "mensatek.certified_email"
    trigger_name = "MensatekCertifiedEmailTrigger"

    def __init__(self, *, message_ids: Any, target: str = "certified",
                 mensatek_conn_id: str = "mensatek_default", wait_for: str = WAIT_AUTO,
                 reconcile_after: float | timedelta = RECONCILE_AFTER, send_at: Any = None, **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, conn_id=mensatek_conn_id, wait_for=wait_for,
                         reconcile_after=reconcile_after, **kwargs)
        self.mensatek_conn_id = mensatek_conn_id
        self.send_at = send_at

    def _send_time(self) -> float | None:
        from airflow_provider_mensatek.clients.send_at import send_at_timestamp

        return send_at_timestamp(self.send_at)


class MensatekSmsDeliverySensor(DeliveryStatusSensor):
    """Wait for Mensatek SMS to be delivered (or certified, accepted, signed for certified SMS / contracts).

    Reads ``GetReportSMS``. An id sent to several phones has reached the target when every phone has; a
    phone that fails (50 "the phone does not exist", 53 expired, 54 blacklist …) fails the id, named with
    the vendor's text. Codes Mensatek keeps retrying (134, 135, 123 …) keep the wait going. The default
    policy waits 5 minutes, then backs off to hourly: Mensatek treats polling loops as an attack.

    :param message_ids: ``idMensaje`` value(s) of the SMS send -> ``Idmensaje``, one report call per id.
    :param target: default ``delivered`` (11, 13, 70, 106 …); ``certified`` for certified SMS (14).
    :param mensatek_conn_id: the ``mensatek`` connection.
    :param wait_for: ``"auto"`` (default), ``"reports"`` or ``"poll"``, as for
        :class:`MensatekCertifiedEmailSensor`; ``reconcile_after`` and ``send_at`` too.
    :param phones_per_message: in webhook mode, how many phones each id was sent to (a number for every id,
        or ``{id: number}``; e.g. ``"{{ ti.xcom_pull('sms')['recipients'] }}"``). Each phone is reported on its
        own: an id reaches the target when that many phones have. Without it, the first time an id's reports
        look final one ``GetReportSMS`` (which lists every phone) confirms it.

    See :class:`DeliveryStatusSensor` for ``min_fraction``, ``poll_policy``, ``deferrable`` and the XCom.
    """

    template_fields: Sequence[str] = (*DeliveryStatusSensor.template_fields, "phones_per_message", "send_at")
    vendor = "mensatek"
    channel = "mensatek.sms"
    trigger_name = "MensatekSmsDeliveryTrigger"

    def __init__(self, *, message_ids: Any, target: str = "delivered",
                 mensatek_conn_id: str = "mensatek_default", wait_for: str = WAIT_AUTO,
                 reconcile_after: float | timedelta = RECONCILE_AFTER, phones_per_message: Any = None,
                 send_at: Any = None, **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, conn_id=mensatek_conn_id, wait_for=wait_for,
                         reconcile_after=reconcile_after, **kwargs)
        self.mensatek_conn_id = mensatek_conn_id
        self.phones_per_message = phones_per_message
        self.send_at = send_at

    def _phones(self) -> Any:
        return self.phones_per_message

    def _send_time(self) -> float | None:
        from airflow_provider_mensatek.clients.send_at import send_at_timestamp

        return send_at_timestamp(self.send_at)


class _LegallyMailSensor(DeliveryStatusSensor):
    vendor = "legallymail"

    def __init__(self, *, message_ids: Any, target: str, legallymail_conn_id: str = "legallymail_default",
                 **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, conn_id=legallymail_conn_id, **kwargs)
        self.legallymail_conn_id = legallymail_conn_id


class LegallyMailEmailSensor(_LegallyMailSensor):
    """Wait for LegallyMail certified emails to be delivered or read.

    Ids are ``tracking_id`` values: a whole send's, or single recipients'. Several ids due at once cost one
    ``GET /emails?limit=25`` plus one ``GET /email`` per multi-recipient send (it answers for all its
    recipients). Every request takes a slot of the process-wide limiter of the token (10 per minute).
    A bounced or failed recipient fails the wait, named with the vendor's ``error_details``.

    :param message_ids: tracking id(s) -> ``tracking_id``.
    :param target: default ``delivered`` (delivery certificate); ``read`` for the read certificate.
    :param legallymail_conn_id: the ``legallymail`` connection.

    See :class:`DeliveryStatusSensor` for ``min_fraction``, ``poll_policy``, ``deferrable`` and the XCom.
    """

    channel = "legallymail.email"
    trigger_name = "LegallyMailEmailTrigger"

    def __init__(self, *, message_ids: Any, target: str = "delivered", **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, **kwargs)


class LegallyMailSignatureSensor(_LegallyMailSensor):
    """Wait for LegallyMail signature requests to be signed (by every signer).

    Several uuids due at once cost one ``GET /signatures?limit=25`` (the 25 most recent requests), then
    ``GET /signature`` for those not in it. A rejected or expired request fails the wait.

    :param message_ids: signature request uuid(s) -> ``uuid``.
    :param target: default ``signed``.
    :param legallymail_conn_id: the ``legallymail`` connection.

    See :class:`DeliveryStatusSensor` for ``min_fraction``, ``poll_policy``, ``deferrable`` and the XCom.
    """

    channel = "legallymail.signature"
    trigger_name = "LegallyMailSignatureTrigger"

    def __init__(self, *, message_ids: Any, target: str = "signed", **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, **kwargs)


class LegallyMailSmsSensor(_LegallyMailSensor):
    """Wait for LegallyMail certified SMS to be delivered (or certified: ``ts_confirmed_at``).

    :param message_ids: SMS uuid(s) -> ``uuid`` of ``GET /sms``, one call per id.
    :param target: default ``delivered``; ``certified`` waits for the time-stamp confirmation.
    :param legallymail_conn_id: the ``legallymail`` connection.

    See :class:`DeliveryStatusSensor` for ``min_fraction``, ``poll_policy``, ``deferrable`` and the XCom.
    """

    channel = "legallymail.sms"
    trigger_name = "LegallyMailSmsTrigger"

    def __init__(self, *, message_ids: Any, target: str = "delivered", **kwargs: Any) -> None:
        super().__init__(message_ids=message_ids, target=target, **kwargs)
