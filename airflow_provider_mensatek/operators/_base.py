"""What every operator of this provider shares: error mapping, at-most-once sends, Jinja-safe placeholders.

Operators stay thin: they turn templated arguments into one client call and a
JSON-able XCom result. The pieces here are the Airflow-side halves of the
provider's contracts.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients._http.extra_params import merge_extra_params
from airflow_provider_mensatek.clients.errors import (
    NOTHING_SENT_ERRORS,
    PERMANENT_ERRORS,
    AmbiguousSendError,
)
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS
from airflow_provider_mensatek.clients.send_at import check_send_at
from airflow_provider_mensatek.clients.validation import PLACEHOLDER_RE, check_message_ids, vendor_datetime
from airflow_provider_mensatek.operators._context_names import ContextNamesOperator, known_template_names

#: Key under which a send operator records its outcome in the task state store (AIP-103).
SEND_STATE_KEY = "mensatek.send"


class RetriesNotDeduplicatedWarning(UserWarning):
    """Airflow < 3.3 has no task state store: a retry after an accepted send cannot be recognised."""


@contextmanager
def vendor_errors() -> Iterator[None]:
    """Turn errors a retry cannot fix into AirflowFailException; let retryable ones through.

    Retryable errors (rate limited, transient, certificate not ready) keep their
    type so a ``retry_policy`` (see :mod:`airflow_provider_mensatek.retry_policy`)
    can read ``retry_after`` from them.
    """
    try:
        yield
    except PERMANENT_ERRORS as exc:
        raise AirflowFailException(str(exc)) from exc


def send_at_most_once(
    context: Context, reference: str | None, send: Callable[[], dict[str, Any]],
    check: Callable[[], None] | None = None,
) -> Any:
    """Run ``send`` at most once per task instance, across Airflow retries.

    ``check`` runs first, before anything is written to the store: local validation the client would
    otherwise do while building the request. Its failure proves nothing was sent, so it must leave no
    trace a later try (or a person reading the store) could take for a send that may have left.

    Before the HTTP call an "in flight" marker is written to the task state
    store; after the vendor accepts, the JSON result replaces it. A later try of
    the same task instance then:

    * finds the accepted result and returns it without calling the vendor;
    * finds the "in flight" marker (the worker died mid-request) or an
      ambiguous failure, and fails without retrying: the message may have been
      sent, a person must check the vendor panel for the reference.

    The marker is removed (so a retry may send) only when nothing can have
    reached the vendor: no send request left this process (local validation,
    an unreadable attachment), or the error itself proves it (the vendor
    refused the data or the credentials, a connect failure, a rate limit).
    Anything else, including errors we did not foresee, counts as ambiguous.

    ``ResumableJobMixin`` (AIP-103) sits on the same store but records the
    external id only after submission returns and resubmits after a failed job;
    for a legal notification both would risk a second send, hence this helper.
    """
    # The transport (requests, urllib3) is imported where a send happens, not when a DAG file is parsed.
    from airflow_provider_mensatek.clients._http.transport import send_attempts_started

    store = context.get("task_state_store")
    if store is None:
        warnings.warn(
            "This Airflow has no task state store (needs Airflow >= 3.3): if the worker dies after the "
            "vendor accepted the send, an Airflow retry will send again. Set retries=0 on send tasks.",
            RetriesNotDeduplicatedWarning,
            stacklevel=2,
        )
        with vendor_errors():
            if check is not None:
                check()
            return send()

    prior = store.get(SEND_STATE_KEY)
    if isinstance(prior, Mapping):
        if prior.get("state") == "accepted":
            return prior["result"]
        raise AirflowFailException(
            "A previous try of this task started a send"
            + (f" with reference {prior.get('reference')!r}" if prior.get("reference") else "")
            + f" at {prior.get('started')} and its outcome is unknown ({prior.get('detail', 'worker stopped')})."
            " Not sending again automatically: check the vendor panel, then clear this task's state "
            "(or the task with a new reference) to send."
        )
    if check is not None:
        with vendor_errors():
            check()
    started = datetime.now(tz=timezone.utc).isoformat()
    store.set(SEND_STATE_KEY, {"state": "in_flight", "reference": reference, "started": started})
    attempts_before = send_attempts_started()
    try:
        result = send()
    except BaseException as exc:  # includes the task being killed mid-request
        nothing_left = send_attempts_started() == attempts_before
        if nothing_left or (isinstance(exc, NOTHING_SENT_ERRORS) and not isinstance(exc, AmbiguousSendError)):
            store.delete(SEND_STATE_KEY)
            if isinstance(exc, PERMANENT_ERRORS):
                raise AirflowFailException(str(exc)) from exc
            raise
        detail = str(exc) if isinstance(exc, AmbiguousSendError) else (
            f"{type(exc).__name__} after the request was sent: {exc}")
        store.set(SEND_STATE_KEY, {"state": "ambiguous", "reference": reference, "started": started,
                                   "detail": detail})
        if isinstance(exc, AmbiguousSendError):
            raise AirflowFailException(detail) from exc
        raise AirflowFailException(
            f"The send may have reached the vendor ({detail}). Not retried, to avoid sending twice"
            + (f"; check the vendor panel for reference {reference!r}." if reference else ".")
        ) from exc
    # Which try had it accepted, and when: a later try that returns this result says so in its log.
    store.set(SEND_STATE_KEY, {"state": "accepted", "reference": reference, "result": result,
                               "try_number": getattr(context.get("ti"), "try_number", None),
                               "accepted_at": datetime.now(tz=timezone.utc).isoformat(timespec="seconds")})
    return result


def extra_params_check(extra_params: Any, method: str) -> Callable[[], None]:
    """``check`` for :func:`send_at_most_once`: the client's ``extra_params`` rules (plain JSON, no key
    standing for a parameter the call models) for the vendor function behind client ``method``.

    The client applies the same rules again while building the request, for plain-Python callers. Merging
    into an empty dict is enough here: the clash rule takes the function's modelled parameters from
    MODELED_PARAMS, whatever this call sets.
    """
    function = FUNCTIONS[method]
    return lambda: merge_extra_params({}, extra_params, function)


def replay_note(context: Context) -> str:
    """``""`` after a send made by this try; after :func:`send_at_most_once` returned a result recorded by
    an earlier try, the start of a log line that says so (which try, and when, as far as recorded).

    Without it a retry's "Mensatek accepted 1 certified email(s)" reads like a second send.
    """
    store = context.get("task_state_store")
    prior = store.get(SEND_STATE_KEY) if store is not None else None
    if not isinstance(prior, Mapping) or prior.get("state") != "accepted":
        return ""
    recorded = prior.get("try_number")
    if "try_number" in prior and recorded == getattr(context.get("ti"), "try_number", None):
        return ""
    by = f"try {recorded}" if recorded is not None else "an earlier try"
    when = f" at {prior['accepted_at']}" if prior.get("accepted_at") else ""
    return f"Not sent again: returning the result {by} recorded{when}. "


# -- Mensatek {{Variable}} placeholders vs Airflow's Jinja -------------------------



def protect_vendor_placeholders(text: str, known_names: set[str]) -> str:
    """Wrap ``{{Name}}`` in ``{% raw %}`` when ``Name`` is not a Jinja/Airflow variable.

    ``Aviso para {{Nombre}} ({{ ds }})``: ``ds`` is an Airflow context name and
    renders; ``Nombre`` is not, so it reaches the vendor as ``{{Nombre}}`` for
    per-recipient substitution. Expressions (``{{ params.x }}``, filters) are
    never touched. ``known_names`` must hold every Airflow context name, also
    those the current run lacks (see :func:`known_template_names`): ``{{ ds }}``
    in a run without a logical date is Airflow's and must fail as such, not
    reach the vendor as a placeholder no recipient fills.
    """

    def wrap(match: re.Match[str]) -> str:
        if match.group(1) in known_names:
            return match.group(0)
        return "{% raw %}" + match.group(0) + "{% endraw %}"

    return PLACEHOLDER_RE.sub(wrap, text)


class MensatekBaseOperator(ContextNamesOperator):
    """Base for Mensatek operators: connection handling and vendor-placeholder-safe rendering.

    :param mensatek_conn_id: Airflow connection of type ``mensatek`` (default ``mensatek_default``).
    """

    #: Templated fields that carry Mensatek ``{{Variable}}`` placeholders.
    vendor_placeholder_fields: tuple[str, ...] = ()

    def __init__(self, *, mensatek_conn_id: str = "mensatek_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mensatek_conn_id = mensatek_conn_id
        self._hook: Any = None

    def get_client(self) -> Any:
        from airflow_provider_mensatek.hooks.mensatek import MensatekHook

        # A connection a retry cannot fix (no token, plain http to a public host) fails the task once.
        with vendor_errors():
            self._hook = MensatekHook(mensatek_conn_id=self.mensatek_conn_id)
            return self._hook.get_conn()

    def report_flag(self, report: bool | None) -> bool | None:
        """``Report``: the DAG's ``report`` when it gives one, else on when the connection says reports are set up.

        With the connection's extra ``reports: true`` the panel posts each status
        change to the provider's receiver, which the sensors listen to; the vendor
        sends them only for sends that ask (``Report=1``). Call after :meth:`get_client`.
        """
        if report is not None:
            return report
        with vendor_errors():  # an extra that is neither true nor false fails the task, once
            return True if self._hook is not None and self._hook.reports_configured() else None

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Context, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        # Hooked here rather than in render_template_fields so mapped (.expand) tasks,
        # which render through the unmapped copy, are protected too.
        if parent is self and self.vendor_placeholder_fields:
            known = known_template_names(context, jinja_env)
            for name in self.vendor_placeholder_fields:
                value = getattr(self, name, None)
                if isinstance(value, str) and not value.endswith(tuple(self.template_ext)):
                    setattr(self, name, protect_vendor_placeholders(value, known))
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)


#: The longest ``Referenciausuario`` the client sends (the documents give no limit; 100, as for the
#: per-recipient ``Referencia`` of campaigns).
MAX_REFERENCE = 100


def default_reference(context: Context) -> str:
    """``<dag_id>.<task_id>.<run_id>`` (``.<map_index>`` when mapped): finds the send in the vendor panel and
    ties each report (its ``Referencia``) to the DAG run, with no personal data in it.

    A longer one keeps its start and ends with a hash of the whole: cut short, two runs whose ids
    differ only at the end would share a reference.
    """
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id]
    if getattr(ti, "map_index", -1) not in (-1, None):
        parts.append(str(ti.map_index))
    reference = ".".join(parts)
    if len(reference) <= MAX_REFERENCE:
        return reference
    digest = hashlib.sha256(reference.encode("utf-8")).hexdigest()[:12]
    return f"{reference[:MAX_REFERENCE - len(digest) - 1]}~{digest}"


class MensatekCancelScheduledOperator(MensatekBaseOperator):
    """Base of the cancel operators: every id checked first, then one cancel call per id."""

    template_fields: Sequence[str] = ("message_id",)
    #: What is cancelled, for the log ("certified email(s)", "SMS").
    what = "message(s)"

    def __init__(self, *, message_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message_id = message_id

    def cancel(self, client: Any, message_id: int) -> Any:
        raise NotImplementedError

    def execute(self, context: Context) -> list[dict[str, Any]]:
        with vendor_errors():
            ids = check_message_ids(self.message_id)  # all of them, before the first cancel
            client = self.get_client()
            results = [self.cancel(client, mid).to_dict() for mid in ids]
        self.log.info("Cancelled %s: %s", self.what,
                      [(r["message_id"], r["credits_recovered"]) for r in results])
        return results


class MensatekRescheduleScheduledOperator(MensatekBaseOperator):
    """Base of the reschedule operators: every id and the date checked first, then one call per id."""

    template_fields: Sequence[str] = ("message_id", "send_at")
    what = "message(s)"

    def __init__(self, *, message_id: Any, send_at: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message_id = message_id
        self.send_at = send_at

    def reschedule(self, client: Any, message_id: int, send_at: Any) -> Any:
        raise NotImplementedError

    def execute(self, context: Context) -> list[dict[str, Any]]:
        with vendor_errors():
            ids = check_message_ids(self.message_id)  # all of them and the date, before the first call
            vendor_datetime(check_send_at(self.send_at, reschedule=True), what="send_at")
            client = self.get_client()
            results = [self.reschedule(client, mid, self.send_at).to_dict() for mid in ids]
        self.log.info("Rescheduled %s %s to %s (Europe/Madrid)", self.what, [r["message_id"] for r in results],
                      results[0]["send_at"] if results else None)
        return results
