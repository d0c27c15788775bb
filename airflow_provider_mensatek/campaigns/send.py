"""Campaigns at scale, Airflow-free: at-most-once batch sends.

Planning is in :mod:`.plan`, one batch's request in :mod:`.request`, campaign control in :mod:`.control`.

A campaign lives in one folder (see :mod:`~airflow_provider_mensatek.campaigns.folder`
for its layout; the summary is in :mod:`~airflow_provider_mensatek.campaigns.summary`).

The plan passed between tasks (XCom) holds batch ids, references, counts and
fingerprints, never the recipients: a mapped send task reads its own batch
file, so XCom stays small whatever the campaign size.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mensatek.campaigns.answers import ANSWER_RULES
from airflow_provider_mensatek.campaigns.auth import (
    credential_id,
    record_auth_failure,
    refused_credential,
    refused_message,
)
from airflow_provider_mensatek.campaigns.folder import (
    LEDGER_DIR,
    check_entries,
    check_entry,
)
from airflow_provider_mensatek.campaigns.ledger import (
    ACCEPTED,
    AMBIGUOUS,
    BLOCKED,
    FAILED_NOT_SENT,
    IN_FLIGHT,
    REPLAY,
    SEND_EVENTS,
    Ledger,
    LedgerBlockedError,
    blocked_message,
    decide,
    utc_now,
)
from airflow_provider_mensatek.campaigns.plan import (
    MAX_MENSATEK_PARALLEL,
    fingerprint,
    load_batch,
)
from airflow_provider_mensatek.campaigns.recipients import (
    LEGALLYMAIL_CERTIFIED_EMAIL,
)
from airflow_provider_mensatek.campaigns.request import (
    PlannedRecipients,
    SendOutcome,
    plan_request,
)
from airflow_provider_mensatek.clients._http.transport import send_attempts_started
from airflow_provider_mensatek.clients.errors import (
    NOTHING_SENT_ERRORS,
    AmbiguousSendError,
    AuthenticationError,
    MensatekError,
    ValidationError,
)

log = logging.getLogger("airflow_provider_mensatek.campaigns.send")


@dataclass
class BatchSender:
    """Sends batches of one campaign at most once each, recording every step in the ledger.

    :param client: a MensatekClient (or a LegallyMailClient for ``legallymail_certified_email``),
        shared by every batch of the task: one HTTP session, never one per recipient.
    :param message: the channel's message arguments (see :func:`plan_request`).
    :param context: who sent (e.g. dag/run/try), stored in each record for the audit trail.
    """

    campaign: Any
    client: Any
    channel: str
    message: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.campaign / LEDGER_DIR)
        self._credential = credential_id(self.client)
        self._auth_lock = threading.Lock()
        #: Whether the ledger's auth records were read, and what they refuse (read once per sender).
        self._auth_checked = False
        self._auth_refused: str | None = None

    def send(self, entry: Mapping[str, Any], *, recorded: Callable[[], None] | None = None) -> dict[str, Any]:
        """Send one plan entry, or return what the ledger recorded. Raises LedgerBlockedError when blocked.

        ``recorded`` is called right after the ``in_flight`` record is written
        (tests use it to stop a worker at the worst moment).
        """
        prepared = self._prepare(check_entry(entry))
        if isinstance(prepared, dict):
            return prepared
        self._claim(prepared)
        if recorded is not None:
            recorded()
        return self._finish(prepared, self._request(prepared))

    # The steps of one send. send() runs them in a row; send_all() overlaps the reading and
    # recording of one batch, and the preparing of the next, with the next batch's request.

    def _prepare(self, entry: Mapping[str, Any]) -> _Prepared | dict[str, Any]:
        """Read and check the batch and its ledger: the recorded outcome to replay, or what to send."""
        batch_id, reference = str(entry["batch_id"]), str(entry["reference"])
        # The ledger first: an accepted batch is replayed from its record, whatever its batch file says.
        batch = None if entry.get("fingerprint") else load_batch(self.campaign, batch_id)
        planned = entry.get("fingerprint") or (batch or {}).get("fingerprint")
        records = self.ledger.records(batch_id)
        decision = decide(records, planned)
        if decision.action == REPLAY and decision.record is not None:
            log.info("Batch %s (reference %r) was accepted at %s: not sending it again", batch_id, reference,
                     decision.record.get("at"))
            return outcome_dict(decision.record, replayed=True)
        if decision.action == BLOCKED and decision.record is not None:
            raise LedgerBlockedError(blocked_message(batch_id, decision.record, str(self.ledger.root)),
                                     vendor=self._vendor, code=decision.record.get("event"))
        self._check_auth()
        batch = batch or load_batch(self.campaign, batch_id)
        if batch["fingerprint"] != planned:
            raise ValidationError(f"batch {batch_id} on storage does not match the plan given to this task "
                                  "(re-planned since?); refusing to send")
        if fingerprint(batch["destinatarios"]) != batch["fingerprint"]:
            raise ValidationError(f"batch {batch_id} was changed on storage after it was planned and validated; "
                                  "refusing to send it (plan the campaign again)")
        recipients = PlannedRecipients(batch["destinatarios"], len(batch["lines"]))
        common = {"reference": reference, "fingerprint": batch["fingerprint"], "recipients": recipients.count,
                  "channel": self.channel, **({"context": dict(self.context)} if self.context else {})}
        request = plan_request(self.client, self.channel, recipients, self.message, reference)
        if not records:
            self.ledger.make_folder(batch_id)
        return _Prepared(batch_id, reference, request, common, len(records) + 1)

    def _claim(self, prepared: _Prepared, *, ahead: bool = False) -> None:
        """Write the batch's ``in_flight`` record, exclusively, before its request; raise if another claimed it.

        ``ahead``: claimed while the previous batch's request is out (the record says so, for a person
        reading the ledger during the campaign).
        """
        marks = {"claimed_ahead": True} if ahead else {}
        if self.ledger.claim(prepared.batch_id, prepared.seq, **prepared.common, **marks) is None:
            # Another worker read the same records and claimed this send first: it is sending the batch.
            raise LedgerBlockedError(
                f"Batch {prepared.batch_id} (reference {prepared.reference!r}) is being sent by another worker "
                f"right now (its in_flight record {prepared.seq} appeared between this worker's read and its "
                "claim); not sending it. Its ledger records say how that send ended; run this task again to "
                "return them.", vendor=self._vendor, code=IN_FLIGHT)

    def _request(self, prepared: _Prepared) -> Callable[[], SendOutcome]:
        """The vendor request of a claimed batch; a failure is recorded (and raised) by what it proves."""
        attempts_before = send_attempts_started()
        try:
            return prepared.request()
        except Exception as exc:
            # failed_not_sent (sendable again) only when nothing can have reached the vendor: no send
            # request left this process, or the error proves the vendor refused / never got it. Anything
            # else (an unreadable answer, a bug while parsing it) may follow an accepted send.
            nothing_left = send_attempts_started() == attempts_before
            if nothing_left or (isinstance(exc, NOTHING_SENT_ERRORS) and not isinstance(exc, AmbiguousSendError)):
                self._record_failure(prepared, FAILED_NOT_SENT, exc, str(exc))
            else:
                self._record_failure(prepared, AMBIGUOUS, exc, _error_text(exc))
            if isinstance(exc, AuthenticationError):
                self._record_auth_failure(prepared, exc)
            raise

    def _check_auth(self) -> None:
        """Before a batch is claimed: fail without a request when the ledger shows this credential refused.

        The ledger is read once per sender; a refusal this sender records itself is remembered at once.
        """
        with self._auth_lock:
            if not self._auth_checked:
                record = refused_credential(self.ledger, self._credential)
                self._auth_refused = refused_message(record, self.ledger) if record else None
                self._auth_checked = True
            refused = self._auth_refused
        if refused is not None:
            raise AuthenticationError(refused, vendor=self._vendor, code="ledger")

    def _record_auth_failure(self, prepared: _Prepared, exc: AuthenticationError) -> None:
        """Record a refused credential in the ledger, once per sender, for every other batch task to read."""
        with self._auth_lock:
            if self._auth_checked and self._auth_refused is not None:
                return
            record = {"at": utc_now(), "batch_id": prepared.batch_id, "reference": prepared.reference,
                      "vendor": self._vendor, "detail": str(exc)}
            self._auth_checked, self._auth_refused = True, refused_message(record, self.ledger)
        try:
            record_auth_failure(self.ledger, self._credential, batch_id=prepared.batch_id,
                                reference=prepared.reference, vendor=self._vendor, detail=str(exc),
                                context=self.context)
        except Exception as unrecorded:  # the batch's own failed_not_sent record stands; other tasks may retry once
            log.error("The refused credential could not be recorded in the ledger (%s): other batch tasks of "
                      "this campaign will each try it once", _error_text(unrecorded))

    def _finish(self, prepared: _Prepared, read: Callable[[], SendOutcome]) -> dict[str, Any]:
        """Read an answer the vendor gave without refusing, and record the batch ``accepted``."""
        try:
            out = read()
        except Exception as exc:  # the vendor answered and did not refuse: whatever it did is unknown
            self._record_failure(prepared, AMBIGUOUS, exc, _error_text(exc))
            raise
        try:
            record = self.ledger.append(
                prepared.batch_id, ACCEPTED, seq=prepared.seq + 1, **prepared.common, message_ids=out.message_ids,
                sent=out.sent, not_sent=out.not_sent, duplicates=out.duplicates, credits_used=out.credits_used,
                credits_left=out.credits_left, refused=out.refused, unconfirmed=out.unconfirmed,
                answer_rules=ANSWER_RULES, ids_by_key=out.ids_by_key, result=out.result,
            )
        except Exception as exc:
            # The batch stays in_flight (blocked, never resent); what the vendor said is kept in the log.
            log.error("Batch %s (reference %r) was ACCEPTED by the vendor (%s sent, %s not sent, refused %s, "
                      "message ids %s) but its ledger record could not be written (%s): it stays in_flight",
                      prepared.batch_id, prepared.reference, out.sent, out.not_sent, out.refused,
                      out.message_ids, _error_text(exc))
            raise
        return outcome_dict(record, replayed=False)

    def _record_failure(self, prepared: _Prepared, event: str, exc: BaseException, detail: str) -> None:
        self.ledger.append(prepared.batch_id, event, seq=prepared.seq + 1, **prepared.common, detail=detail,
                           error=type(exc).__name__)

    def _failed_outcome(self, entry: Mapping[str, Any], exc: BaseException) -> dict[str, Any]:
        """The outcome of a batch whose send raised (recorded in the ledger as far as it got). Never raises.

        ``state`` is the batch's last send-state record; a batch the ledger shows
        accepted is reported with that record's figures (it was sent), the error beside them.
        """
        error = _error_text(exc)
        log.error("Batch %s (reference %r): %s", entry["batch_id"], entry["reference"], error)
        outcome: dict[str, Any] = {"batch_id": entry["batch_id"], "reference": entry["reference"], "state": None,
                                   "error": error, "replayed": False, "sent": 0, "message_ids": []}
        try:
            records = self.ledger.records(str(entry["batch_id"]))
        except Exception as unreadable:
            log.error("Batch %s: its ledger records could not be read either: %s", entry["batch_id"],
                      _error_text(unreadable))
            return {**outcome, "state": "unknown", "error": f"{error} (ledger unreadable: {_error_text(unreadable)})"}
        last = next((r for r in reversed(records) if r.get("event") in SEND_EVENTS), None)
        if last is not None and last["event"] == ACCEPTED:
            return {**outcome_dict(last, replayed=True), "error": error}
        return {**outcome, "state": last["event"] if last else None}

    @property
    def _vendor(self) -> str:
        return "legallymail" if self.channel == LEGALLYMAIL_CERTIFIED_EMAIL else "mensatek"

    def send_all(self, entries: Iterable[Mapping[str, Any]], *, max_parallel: int = 1) -> list[dict[str, Any]]:
        """Every batch, one request at a time (default) or with up to ``max_parallel`` requests at a time.

        A blocked or failed batch, whatever the error, does not stop the others
        (only an authentication failure does: never repeated, anti-spam): each
        outcome says what happened, and :func:`send_all_failed` tells the
        caller to fail.
        LegallyMail's 10 requests/minute hold whatever ``max_parallel`` is: its
        client waits on the process-wide limiter before every request.
        """
        limit = MAX_MENSATEK_PARALLEL if self.channel != LEGALLYMAIL_CERTIFIED_EMAIL else 10
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or not 1 <= max_parallel <= limit:
            raise ValidationError(f"max_parallel must be between 1 and {limit} for {self.channel}, "
                                  f"got {max_parallel!r}")
        entries = check_entries(entries)
        # Before the first batch, not from inside the pipeline: a refusal here is one clear error, not one per batch.
        self.ledger.check_exclusive_create()
        if max_parallel == 1:
            return self._send_one_at_a_time(entries)

        def one(entry: Mapping[str, Any]) -> dict[str, Any]:
            try:
                return self.send(entry)
            except AuthenticationError:
                raise
            except Exception as exc:  # one batch's failure, whatever it is, must not stop the others
                return self._failed_outcome(entry, exc)

        with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="campaign-send") as pool:
            return list(pool.map(one, entries))

    def _send_one_at_a_time(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One request at a time, as a plain loop would make them, with the bookkeeping beside them.

        This thread makes the requests, one after the other. While one is out,
        a helper thread reads the previous batch's answer and writes its
        ``accepted`` record, then prepares the next batch (reads and checks its
        file and ledger) and claims it (its ``in_flight`` record, marked
        ``claimed_ahead``, on storage before its request starts). So the vendor
        sees exactly the requests of a sequential loop, and every batch's
        records are written before this returns; what moves is when: an
        ``accepted`` record lands during the next request, an ``in_flight``
        claim during the previous one.

        A worker killed in that moment leaves at most two batches ``in_flight``
        (the one being sent, and the previous one not yet recorded or the next
        one already claimed): blocked until a person checks the vendor panel,
        never sent twice. When this thread stops on an error instead (an
        authentication failure, a timeout, an interruption), the helper claims
        nothing more, and a batch it claimed that was not requested is
        recorded ``failed_not_sent``, to be sent by the next try. The error
        that stopped the loop is the one raised; bookkeeping errors are logged
        and reported per batch.
        """
        results: list[dict[str, Any]] = [{} for _ in entries]
        if not entries:
            return results
        stopping = threading.Event()

        def ready(entry: Mapping[str, Any], ahead: bool) -> _Prepared | dict[str, Any] | Exception | None:
            """Prepared and claimed, a recorded outcome to return, the error that stopped it, or None (stopped)."""
            try:
                prepared = self._prepare(entry)
                if isinstance(prepared, _Prepared):
                    if stopping.is_set():
                        return None
                    self._claim(prepared, ahead=ahead)
                return prepared
            except Exception as exc:  # handed to the sending thread, which reports it in order
                return exc

        def finish(index: int, prepared: _Prepared, read: Callable[[], SendOutcome]) -> None:
            try:
                results[index] = self._finish(prepared, read)
            except Exception as exc:
                results[index] = self._failed_outcome(entries[index], exc)

        def beside(answered: tuple[int, _Prepared, Callable[[], SendOutcome]] | None,
                   upcoming: Mapping[str, Any] | None, ahead: bool) -> _Prepared | dict[str, Any] | Exception | None:
            """The helper's share, in this order (so a kill leaves at most two batches in_flight). Never raises."""
            if answered is not None:
                finish(*answered)
            return ready(upcoming, ahead) if upcoming is not None else None

        answered: tuple[int, _Prepared, Callable[[], SendOutcome]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaign-ledger") as helper:
            pending: Future[_Prepared | dict[str, Any] | Exception | None] | None = None
            following: _Prepared | dict[str, Any] | Exception | None = None
            try:
                pending = helper.submit(ready, entries[0], False)
                following, pending = pending.result(), None
                for index, entry in enumerate(entries):
                    current, following = following, None
                    upcoming = entries[index + 1] if index + 1 < len(entries) else None
                    if isinstance(current, AuthenticationError):  # the ledger shows the credential refused
                        raise current
                    if not isinstance(current, _Prepared):
                        # Nothing to send for this one (a recorded outcome, or an error): no request to overlap.
                        results[index] = (current if isinstance(current, dict)
                                          else self._failed_outcome(entry, current or RuntimeError("not prepared")))
                        pending = helper.submit(beside, answered, upcoming, False)
                        answered = None
                        following, pending = pending.result(), None
                        continue
                    # The helper works while this thread waits on the vendor; this thread alone runs otherwise.
                    pending = helper.submit(beside, answered, upcoming, True)
                    answered = None
                    try:
                        answered = (index, current, self._request(current))
                    except AuthenticationError:
                        raise
                    except Exception as exc:
                        results[index] = self._failed_outcome(entry, exc)
                    following, pending = pending.result(), None
            except BaseException as stop:
                stopping.set()
                if pending is not None:
                    with contextlib.suppress(BaseException):
                        following = pending.result()
                if isinstance(following, _Prepared):  # claimed, never requested: the next try may send it
                    try:
                        self._record_failure(following, FAILED_NOT_SENT, stop,
                                             "claimed, then not requested: the campaign stopped before this "
                                             f"batch ({_error_text(stop)})")
                    except Exception as unrecorded:
                        log.error("Batch %s was claimed but never requested; recording that failed (%s): it "
                                  "stays in_flight", following.batch_id, _error_text(unrecorded))
                raise
            finally:
                if answered is not None:
                    finish(*answered)
        return results


@dataclass(frozen=True)
class _Prepared:
    """A batch checked and ready to claim: what its ledger records carry, and the next record number."""

    batch_id: str
    reference: str
    #: The checked vendor request (see plan_request): made only after the claim.
    request: Callable[[], Callable[[], SendOutcome]]
    common: dict[str, Any]
    seq: int


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MensatekError) else f"{type(exc).__name__}: {exc}"


def send_all_failed(outcomes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in outcomes if o.get("state") != ACCEPTED]


def outcome_dict(record: Mapping[str, Any], *, replayed: bool) -> dict[str, Any]:
    """The small, JSON-able result of a batch send (XCom); the full vendor answer stays in the ledger."""
    return {
        "batch_id": record["batch_id"], "reference": record.get("reference"), "state": record["event"],
        "replayed": replayed, "at": record.get("at"), "sent": record.get("sent", 0),
        "not_sent": record.get("not_sent", 0), "duplicates": record.get("duplicates", 0),
        "credits_used": record.get("credits_used"), "credits_left": record.get("credits_left"),
        "message_ids": list(record.get("message_ids", [])),
    }
