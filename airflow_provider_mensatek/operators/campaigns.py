"""Campaigns at scale: plan batches, send them (mapped or in one task) at most once, control, summarize.

The campaign folder is an ``ObjectStoragePath`` (``file://`` needs nothing;
``s3://`` / ``gs://`` need the provider's ``s3`` / ``gcs`` extras). It holds
the batch files, the send ledger and the summary; see
:mod:`airflow_provider_mensatek.campaigns.send`. The logic lives there;
these operators only open storage and connections and return JSON for XCom.

Typical DAG::

    plan = MensatekPlanCampaignOperator(task_id="plan", recipients_path="file:///lake/avisos.csv",
                                        campaign_path="file:///lake/campaigns/avisos-2026-11",
                                        campaign_reference="avisos-2026-11", channel="certified_email")
    send = MensatekSendCampaignBatchOperator.partial(
        task_id="send", sender="avisos@example.com", subject="Aviso {{Nombre}}", message="...",
    ).expand(batch=plan.output)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.send_at import check_send_at
from airflow_provider_mensatek.object_storage import to_storage_path
from airflow_provider_mensatek.operators._base import (
    SEND_STATE_KEY,
    MensatekBaseOperator,
    replay_note,
    send_at_most_once,
    vendor_errors,
)
from airflow_provider_mensatek.operators._local_files import (
    AllowedRoots,
    storage_sources,
    task_roots,
    with_allowed_roots,
)

if TYPE_CHECKING:
    from airflow_provider_mensatek.campaigns.send import BatchSender

# The campaign machinery (ledger, plan, batch sender, summary) is imported inside execute and the
# methods it calls: a DAG file that declares campaign tasks does not pay for it at every parse.

#: XCom key under which the plan operator pushes the whole plan (its return value is the batch list,
#: because Airflow maps only over return values).
PLAN_KEY = "plan"


class _CampaignOperator(MensatekBaseOperator):
    """Storage and connection plumbing shared by the campaign operators.

    :param storage_conn_id: Airflow connection for the campaign storage (or embed it in the URL).
    :param legallymail_conn_id: the ``legallymail`` connection, for ``legallymail_certified_email``.
    """

    def __init__(self, *, storage_conn_id: str | None = None,
                 legallymail_conn_id: str = "legallymail_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage_conn_id = storage_conn_id
        self.legallymail_conn_id = legallymail_conn_id

    def storage(self, location: Any) -> Any:
        return to_storage_path(location, self.storage_conn_id)

    def client_for(self, channel: str) -> Any:
        """One client (one HTTP session) for the whole task, never one per recipient or batch."""
        from airflow_provider_mensatek.campaigns.recipients import LEGALLYMAIL_CERTIFIED_EMAIL

        if channel == LEGALLYMAIL_CERTIFIED_EMAIL:
            from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook

            return LegallyMailHook(legallymail_conn_id=self.legallymail_conn_id).get_conn()
        return self.get_client()


class MensatekPlanCampaignOperator(_CampaignOperator):
    """Read, validate and batch a campaign's recipients; return the plan (small, JSON-able).

    Exactly one source: ``recipients`` (a list or an upstream XCom value) or
    ``recipients_path`` (a CSV or JSON Lines file at any ObjectStoragePath,
    read as a stream). Invalid rows and duplicates are written with their line
    number and reason to ``<campaign_path>/rejected.jsonl`` and counted in the
    plan; above ``max_invalid`` invalid rows the task fails and nothing is sent.
    A file that cannot be read as recipients (a quoted field spanning lines, a
    wrong encoding, a NUL byte, an over-long line or field) fails the task
    without retries, naming the line.

    :param campaign_path: folder of the campaign (batches, ledger, summary), ObjectStoragePath URL.
    :param campaign_reference: the campaign's reference; batch ``n`` is sent with
        ``<campaign_reference>-<nnnnn>`` -> ``Referenciausuario`` (Mensatek).
    :param channel: ``certified_email`` | ``sms`` | ``email`` | ``legallymail_certified_email``.
    :param recipients: list of addresses / dicts, or a JSON list string (XCom).
    :param recipients_path: CSV / JSON Lines file URL (or an upstream XComArg giving one); a local path or
        ``file://`` URL only inside ``allowed_roots``, and never a known credential cache.
    :param file_format: ``csv`` or ``jsonl``; default from the file extension.
    :param encoding: the file's text encoding, e.g. ``"cp1252"`` or ``"latin-1"`` (Spanish spreadsheet exports)
        or ``"utf-16"``; default UTF-8 (with or without a byte order mark).
    :param columns: ``{"name": ..., "email": ..., "phone": ..., "variables": {"Variable_1": "column"}}``.
    :param batch_size: recipients per send, a whole number >= 1 (templated: a rendered number is accepted;
        0 or an empty rendering is refused). ``None``: Mensatek 1,000 (max 10,000); LegallyMail: the
        connection's ``max_recipients`` (10 unless the vendor raised it), never more.
    :param max_invalid: invalid rows tolerated (reported, not sent) before the campaign stops, a whole number
        >= 0; ``None`` = no limit. Default 0.
    :param default_country_code: ``sms`` only: the country calling code (``"34"``) of numbers written
        nationally, so ``600000001`` is planned as ``34600000001``. Without it such a number is an invalid
        row (with its line): it may lack its country code, and is never guessed at.
    :param allowed_roots: local folders a local or ``file://`` ``recipients_path`` may be read from. Not
        templated, so ``dag_run.conf`` and XCom cannot widen it. Default: the DAG file's folder, the system
        temp dir and the ``[mensatek] allowed_local_roots`` option; a list replaces all three. Object
        storage (``s3://``, ``gs://`` ...) needs no root.
    :return: (XCom) the batches, one small JSON entry each (``{"batch_id", "reference", "recipients",
        "fingerprint", "campaign", "channel", "first_line", "last_line"}``): ``.expand(batch=plan.output)``
        maps one send task per batch. The whole plan (``rows``, ``valid``, ``invalid``, ``duplicates``,
        ``first_rejected`` (at most 10, each row cut to 1,000 characters), ``more_rejected`` (the count of
        the others, all in ``rejected.jsonl``), ``batch_size``, ``batches``) is pushed under the XCom key
        ``plan`` and written to ``<campaign_path>/plan.json``.
    """

    template_fields: Sequence[str] = ("campaign_path", "campaign_reference", "recipients", "recipients_path",
                                      "columns", "batch_size", "max_invalid", "encoding", "default_country_code")
    template_fields_renderers = {"recipients": "json", "columns": "json"}
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        campaign_path: str,
        campaign_reference: str,
        channel: str,
        recipients: Any = None,
        recipients_path: Any = None,
        file_format: str | None = None,
        encoding: str | None = None,
        columns: dict[str, Any] | None = None,
        batch_size: int | str | None = None,
        max_invalid: int | str | None = 0,
        default_country_code: str | None = None,
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_path = campaign_path
        self.campaign_reference = campaign_reference
        self.channel = channel
        self.recipients = recipients
        self.recipients_path = recipients_path
        self.file_format = file_format
        self.encoding = encoding
        self.columns = columns
        self.batch_size = batch_size
        self.max_invalid = max_invalid
        self.default_country_code = default_country_code
        self.allowed_roots = allowed_roots

    def execute(self, context: Context) -> list[dict[str, Any]]:
        with vendor_errors():
            plan = self._plan()
        self.log.info("Campaign %s: %d row(s) read, %d valid in %d batch(es), %d invalid, %d duplicate(s)",
                      plan["campaign_reference"], plan["rows"], plan["valid"], len(plan["batches"]),
                      plan["invalid"], plan["duplicates"])
        for rejected in plan["first_rejected"]:
            self.log.warning("Line %s not sent (%s): %s", rejected["line"], rejected["kind"], rejected["reason"])
        context["ti"].xcom_push(key=PLAN_KEY, value=plan)
        batches: list[dict[str, Any]] = plan["batches"]
        return batches

    def _plan(self) -> dict[str, Any]:
        from airflow_provider_mensatek.campaigns.input import format_for, open_recipients, rows_from_stream
        from airflow_provider_mensatek.campaigns.plan import plan_campaign
        from airflow_provider_mensatek.campaigns.recipients import LEGALLYMAIL_CERTIFIED_EMAIL, rows_from_list

        if (self.recipients is None) == (not self.recipients_path):
            raise ValidationError("give exactly one of recipients (a list / XCom) or recipients_path (a file)")
        legallymail_max = 10
        if self.channel == LEGALLYMAIL_CERTIFIED_EMAIL:
            legallymail_max = self.client_for(self.channel).max_recipients
        options: dict[str, Any] = {
            "channel": self.channel, "campaign_reference": self.campaign_reference, "columns": self.columns,
            "batch_size": self.batch_size, "max_invalid": self.max_invalid,
            "legallymail_max_recipients": legallymail_max, "default_country_code": self.default_country_code,
        }
        campaign = self.storage(self.campaign_path)
        if self.recipients is not None:
            return plan_campaign(rows_from_list(self.recipients), campaign, source="list", **options)
        source = self.storage(self.recipients_path)
        file_format = self.file_format or format_for(source.name)
        with open_recipients(source, self.encoding, allowed_roots=task_roots(self, self.allowed_roots)) as stream:
            return plan_campaign(rows_from_stream(stream, file_format), campaign, source=str(source), **options)


class MensatekSendCampaignBatchOperator(_CampaignOperator):
    """Send one planned batch, at most once across retries, crashes and re-run DAG runs.

    Meant for ``.partial(...).expand(batch=plan.output)``: one task
    per batch, spread over the workers. Before sending, the campaign ledger is
    read: a batch it shows as accepted is not sent again and its recorded
    result is returned; one shown in flight or ambiguous fails the task
    without sending (a person checks the vendor panel for the batch reference
    and clears it: ``python -m airflow_provider_mensatek.campaigns ledger clear``).
    Inside one task try the task state store (Airflow >= 3.3) guards as well.
    A credential the vendor refused for any batch of the campaign is recorded
    in the ledger; every later batch task fails without a request until the
    connection's credential changes or ``ledger clear-auth`` is run.

    Two workers sending the same batch at the same moment (a zombie task and its
    retry, two DAG runs of one campaign): each send first creates the batch's
    next ``in_flight`` ledger record exclusively, and only its creator sends;
    the other fails without sending. That needs a storage with exclusive create:
    local files (``file://``) and fsspec stores that support mode ``"xb"`` (S3:
    ``If-None-Match: *``). It is checked before the first claim; on storage that
    cannot, the task fails without retry before any request. The campaign folder
    must be storage every worker sees (a local path only for one machine).

    :param batch: one entry of the plan operator's return value (its batch list).
    :param sender: certified email / email: sender address -> ``Remitente``; SMS: sender name or number
        -> ``Remitente``; unused for LegallyMail.
    :param subject: -> ``Asunto`` (Mensatek) / ``subject`` (LegallyMail); placeholders like ``{{Nombre}}``
        are kept for the vendor.
    :param message: -> ``Mensaje`` (certified email, SMS, email HTML) / ``message`` (LegallyMail).
    :param send_at: schedule (aware datetime / ISO with offset) -> ``Fecha`` (Mensatek only). None = now;
        an empty or ``"None"`` text (a template whose value was missing) fails the task.
    :param options: further keyword arguments of the channel's client send method, e.g.
        ``{"require_acceptance": True, "acceptance_days": 10}`` for certified email. Mensatek batches ask for
        reports (``report``) when the connection's extra says ``"reports": true``, unless ``options`` says.
    :param allowed_roots: local folders ``options["attachments"]`` may be read from. Not templated, so
        ``dag_run.conf`` and XCom cannot widen it (nor can ``options``). Default: the DAG file's folder,
        the system temp dir and the ``[mensatek] allowed_local_roots`` option; a list replaces all three.
    :return: (XCom) ``{"batch_id", "reference", "state", "replayed", "sent", "not_sent", "duplicates",
        "credits_used", "credits_left", "message_ids", "at"}``.
    """

    template_fields: Sequence[str] = ("batch", "sender", "subject", "message", "send_at", "options")
    template_fields_renderers = {"message": "html", "options": "json"}
    vendor_placeholder_fields = ("subject", "message")
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        batch: Any,
        sender: str | None = None,
        subject: str | None = None,
        message: str,
        send_at: Any = None,
        options: dict[str, Any] | None = None,
        allowed_roots: AllowedRoots = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch = batch
        self.sender = sender
        self.subject = subject
        self.message = message
        self.send_at = send_at
        self.options = options
        self.allowed_roots = allowed_roots

    def message_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"message": self.message, **(self.options or {})}
        if args.get("attachments"):
            args["attachments"] = storage_sources(args["attachments"])
        if self.sender:
            args["sender"] = self.sender
        if self.subject:
            args["subject"] = self.subject
        if self.send_at is not None:
            with vendor_errors():  # before the ledger is read: an empty date never means "now"
                args["send_at"] = check_send_at(self.send_at)
        return args

    def sender_for(self, campaign: Any, channel: str, context: Context) -> BatchSender:
        from airflow_provider_mensatek.campaigns.send import BatchSender

        ti = context["ti"]
        who = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id,
               "map_index": getattr(ti, "map_index", -1), "try_number": getattr(ti, "try_number", None)}
        client = with_allowed_roots(self.client_for(channel), self, self.allowed_roots)
        args = self.message_args()
        # Mensatek channels ask for reports when the connection says they are set up (``options`` wins).
        report = self.report_flag(args.get("report"))
        if report is not None:
            args["report"] = report
        return BatchSender(campaign, client, channel, args, who)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_mensatek.campaigns.folder import check_entry
        from airflow_provider_mensatek.campaigns.ledger import CLEARED, REPLAY, SEND, LedgerBlockedError, decide
        from airflow_provider_mensatek.campaigns.send import outcome_dict

        with vendor_errors():
            batch = check_entry(self.batch)
        campaign = self.storage(batch["campaign"])
        sender = self.sender_for(campaign, batch["channel"], context)
        # The ledger first: it outlives this task instance (a cleared, re-run DAG run).
        decision = decide(sender.ledger.records(str(batch["batch_id"])), batch.get("fingerprint"))
        if decision.action == REPLAY and decision.record is not None:
            self.log.info("Batch %s was accepted at %s: not sending again", batch["batch_id"],
                          decision.record.get("at"))
            return outcome_dict(decision.record, replayed=True)
        if decision.action == SEND and decision.record is not None and decision.record["event"] == CLEARED:
            self._forget_cleared_attempt(context, decision.record)
        try:
            result: dict[str, Any] = send_at_most_once(context, str(batch["reference"]),
                                                       lambda: sender.send(batch))
        except LedgerBlockedError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info("%sBatch %s (reference %r): %s, %s sent, message ids %s", replay_note(context),
                      result["batch_id"], result["reference"], result["state"], result["sent"], result["message_ids"])
        return result

    def _forget_cleared_attempt(self, context: Context, cleared: Mapping[str, Any]) -> None:
        """A person cleared the batch in the ledger: drop this task's own "outcome unknown" marker too.

        Otherwise a retry in the same DAG run stays blocked by the task state
        store after the ledger was cleared. The marker always belongs to an
        attempt older than the clear: every send writes its ``in_flight`` ledger
        record before the request, so a send started after the clear would be
        the ledger's last event instead of ``cleared``.
        """
        store = context.get("task_state_store")
        if store is None:
            return
        prior = store.get(SEND_STATE_KEY)
        if isinstance(prior, Mapping) and prior.get("state") != "accepted":
            self.log.info("Batch %s was cleared in the ledger by %s at %s (%s): forgetting this task's %s "
                          "send state from %s", cleared.get("batch_id"), cleared.get("cleared_by"),
                          cleared.get("at"), cleared.get("note"), prior.get("state"), prior.get("started"))
            store.delete(SEND_STATE_KEY)


class MensatekSendCampaignOperator(MensatekSendCampaignBatchOperator):
    """Send every batch of a plan from one task (sequential mode), optionally a few requests at a time.

    Every batch goes through the ledger exactly as with the mapped operator,
    so a retry or a re-run sends only what was never accepted. Batches that
    fail or are blocked do not stop the others; the task fails at the end,
    listing them.
    Concurrent runs are guarded as for the mapped operator (exclusive ledger
    claims; storage without exclusive create is refused).

    :param plan: the plan operator's return value (the batch list), or the whole plan dict.
    :param max_parallel: requests in flight at once within this task. Default 1: one request at a
        time, as a plain loop makes them, while a helper thread writes the ledger records of the batch
        before and after it (so a worker killed mid-campaign may leave two batches ``in_flight``, the
        one being sent and the one claimed next; both wait for a person, neither is sent twice). At
        most 4 for Mensatek (which documents no rate limit: a conservative cap); LegallyMail's 10
        requests/minute hold whatever this is (its client waits on the process-wide limiter).
    :return: (XCom) a list of per-batch outcomes (as the mapped operator returns).
    """

    template_fields: Sequence[str] = ("plan", "sender", "subject", "message", "send_at", "options")

    def __init__(self, *, plan: Any, max_parallel: int = 1, **kwargs: Any) -> None:
        super().__init__(batch=None, **kwargs)
        self.plan = plan
        self.max_parallel = max_parallel

    def execute(self, context: Context) -> list[dict[str, Any]]:  # type: ignore[override]
        from airflow_provider_mensatek.campaigns.folder import check_entries
        from airflow_provider_mensatek.campaigns.send import send_all_failed

        with vendor_errors():
            batches = check_entries(self.plan.get("batches") if isinstance(self.plan, Mapping) else self.plan)
        if not batches:
            return []
        first = batches[0]
        sender = self.sender_for(self.storage(first["campaign"]), first["channel"], context)
        with vendor_errors():
            outcomes = sender.send_all(batches, max_parallel=int(self.max_parallel))
        failed = send_all_failed(outcomes)
        self.log.info("%d batch(es) accepted, %d not", len(outcomes) - len(failed), len(failed))
        if failed:
            details = "; ".join(f"{o['batch_id']} {o['state']}: {o.get('error')}" for o in failed[:10])
            raise AirflowFailException(f"{len(failed)} batch(es) not accepted: {details}")
        return outcomes


class MensatekCampaignControlOperator(_CampaignOperator):
    """Cancel or reschedule every scheduled message of a campaign (ids read from its ledger).

    Certified email (``CancelarEMAILCERTIFICADO`` / ``ReprogramarEMAILCERTIFICADO``, one call per
    recipient id) and SMS (``CancelarSMS`` / ``ReprogramarSMS``, one call per batch id). Messages
    already sent or cancelled are reported, not failed; each batch gets a ledger record. A batch
    whose send outcome is unknown (in flight, ambiguous, cleared) or whose accepted answer named no
    message ids cannot be acted on: it gets one result line (outcome ``unknown_outcome`` /
    ``no_message_ids``, with its reference), and after everything else was done the task fails
    listing those batches (the results are pushed under the XCom key ``results``).

    :param campaign_path: the campaign folder.
    :param channel: the campaign's channel (default: read from its plan).
    :param action: ``cancel`` or ``reschedule``.
    :param send_at: the new date for ``reschedule`` (aware / ISO with offset, future) -> ``Fecha``.
    :return: (XCom) per message id ``{"batch_id", "reference", "message_id", "outcome",
        "credits_recovered"?, "send_at"?, "credits_left"?, "detail"?}``; outcome is cancelled,
        already_cancelled, already_sent, not_found, rescheduled or failed.
    """

    template_fields: Sequence[str] = ("campaign_path", "action", "send_at")

    def __init__(self, *, campaign_path: str, action: str, send_at: Any = None, channel: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_path = campaign_path
        self.action = action
        self.send_at = send_at
        self.channel = channel

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_mensatek.campaigns.control import control_campaign, control_not_done
        from airflow_provider_mensatek.campaigns.folder import read_plan

        campaign = self.storage(self.campaign_path)
        with vendor_errors():
            channel = self.channel or read_plan(campaign)["channel"]
            send_at = check_send_at(self.send_at, reschedule=True) if self.action == "reschedule" else self.send_at
            results = control_campaign(campaign, self.client_for(channel), channel, self.action, send_at)
        counts: dict[str, int] = {}
        for item in results:
            counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
        self.log.info("Campaign %s %s: %s", self.campaign_path, self.action, counts or "no scheduled messages")
        not_done = control_not_done(results)
        if not_done:
            context["ti"].xcom_push(key="results", value=results)
            listed = "; ".join(f"batch {r['batch_id']} (reference {r['reference']!r}): {r['outcome']}"
                               for r in not_done[:20])
            raise AirflowFailException(
                f"Campaign {self.action}: every message with a known id was handled (results in the XCom key "
                f"'results'), but {len(not_done)} batch(es) could not be: {listed}"
                + (" ..." if len(not_done) > 20 else "")
                + f". {self.action.capitalize()} their messages in the vendor panel by reference.")
        return results


class MensatekCampaignSummaryOperator(_CampaignOperator):
    """Totals of a campaign, to XCom and ``summary.json``; ``not_sent.csv``, ``unconfirmed.csv``, ``ledger.jsonl``.

    ``not_sent.csv`` (fix and resend) lists only recipients proven not sent;
    ``unconfirmed.csv`` (check the vendor panel first) the ones that may have
    been: batches in flight, ambiguous or cleared, and recipients an accepted
    answer leaves open (see :mod:`~airflow_provider_mensatek.campaigns.summary`).
    Both are quoted and neutralised against spreadsheet formula injection.

    Run it with ``trigger_rule="all_done"`` so it reports failed batches too. With
    ``fail_on_unsent_batches`` (default) it then fails after writing everything
    (the summary is also pushed under the XCom key ``summary``), so a DAG run
    whose last task is the summary does not end "success" with batches unsent.

    :param campaign_path: the campaign folder.
    :param fail_on_unsent_batches: fail when any batch is not accepted (failed, blocked, not attempted).
    :return: (XCom) ``{"recipients", "valid", "invalid", "duplicates", "batches", "batch_states", "sent",
        "not_sent", "not_sent_reasons", "unconfirmed", "unconfirmed_reasons", "credits_used", "credits_left",
        "not_sent_file", "unconfirmed_file", "ledger_file", ...}``.
    """

    template_fields: Sequence[str] = ("campaign_path",)

    def __init__(self, *, campaign_path: str, fail_on_unsent_batches: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_path = campaign_path
        self.fail_on_unsent_batches = fail_on_unsent_batches

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_mensatek.campaigns.summary import summarize

        with vendor_errors():
            summary = summarize(self.storage(self.campaign_path))
        self.log.info("Campaign %s: %d recipient row(s), %d sent, %d not sent %s, %d unconfirmed %s, "
                      "%d duplicate(s); credits used %s, left %s", summary["campaign_reference"],
                      summary["recipients"], summary["sent"], summary["not_sent"], summary["not_sent_reasons"],
                      summary["unconfirmed"], summary["unconfirmed_reasons"], summary["duplicates"],
                      summary["credits_used"], summary["credits_left"])
        unsent = {state: n for state, n in summary["batch_states"].items() if state != "accepted"}
        if unsent and self.fail_on_unsent_batches:
            context["ti"].xcom_push(key="summary", value=summary)
            raise AirflowFailException(f"Campaign {summary['campaign_reference']}: batches not sent {unsent}; "
                                       f"see {summary['not_sent_file']} and the ledger")
        return summary
