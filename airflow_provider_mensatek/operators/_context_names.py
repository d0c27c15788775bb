"""Airflow's template context names, and a clear error when a template names one this run lacks.

Airflow 3 starts runs from ``airflow dags trigger``, the REST API and the UI
without a logical date unless one is given: then ``logical_date``, ``ds``,
``ts`` and the data-interval names are absent from the template context, and
a template naming them fails with Jinja's bare "'ds' is undefined" (or,
worse, a vendor placeholder check blames the recipients). Two things follow:

* the vendor-placeholder protection must know every name Airflow's context
  *can* hold, not only those this run holds, or ``{{ ds }}`` is mistaken for
  a vendor placeholder in exactly the runs that lack it;
* when rendering fails on such a name, the error says why and what to write
  instead (names every run has: ``run_id``, ``dag_run.run_after``, ``params``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jinja2
import jinja2.meta
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

#: What to write instead of each name that exists only in runs with a logical date (None: nothing does).
LOGICAL_DATE_ALTERNATIVES: dict[str, str | None] = {
    "logical_date": "{{ dag_run.run_after }}",
    "ds": "{{ dag_run.run_after | ds }}",
    "ds_nodash": "{{ dag_run.run_after | ds_nodash }}",
    "ts": "{{ dag_run.run_after | ts }}",
    "ts_nodash": "{{ dag_run.run_after | ts_nodash }}",
    "ts_nodash_with_tz": "{{ dag_run.run_after | ts_nodash_with_tz }}",
    "data_interval_start": "{{ dag_run.run_after }}",
    "data_interval_end": "{{ dag_run.run_after }}",
    "prev_data_interval_start_success": None,
    "prev_data_interval_end_success": None,
}

#: Every name of Airflow's task template context (the Task SDK's definition of it), whether or not the
#: current run sets it.
AIRFLOW_CONTEXT_NAMES: frozenset[str] = frozenset(Context.__annotations__) | frozenset(LOGICAL_DATE_ALTERNATIVES)

# jinja2.StrictUndefined's message for a missing top-level name.
_UNDEFINED_NAME_RE = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$")
_PARSER = jinja2.Environment()


def known_template_names(context: Mapping[str, Any], jinja_env: jinja2.Environment) -> set[str]:
    """Names a bare ``{{ name }}`` may mean in Airflow: this context, the environment's globals
    (macros, user-defined macros) and every Airflow context name, present in this run or not."""
    return set(context) | set(jinja_env.globals) | AIRFLOW_CONTEXT_NAMES


def _names_in(value: Any) -> set[str]:
    if isinstance(value, str):
        try:
            return set(jinja2.meta.find_undeclared_variables(_PARSER.parse(value)))
        except jinja2.TemplateSyntaxError:
            return set()
    if isinstance(value, Mapping):
        return set().union(*(_names_in(v) for v in value.values()))
    if isinstance(value, list | tuple | set):
        return set().union(*(_names_in(v) for v in value))
    return set()


def missing_context_name_error(
    exc: jinja2.UndefinedError, context: Mapping[str, Any], templates: Mapping[str, Any]
) -> AirflowFailException | None:
    """The error to raise instead of ``exc`` when it is about an Airflow context name this run lacks."""
    match = _UNDEFINED_NAME_RE.match(str(exc))
    if match is None or match.group(1) not in AIRFLOW_CONTEXT_NAMES or match.group(1) in context:
        return None
    name = match.group(1)
    field = next((f for f, value in templates.items() if name in _names_in(value)), None)
    where = f" (in {field!r})" if field else ""
    if name in LOGICAL_DATE_ALTERNATIVES and context.get("logical_date") is None:
        instead = LOGICAL_DATE_ALTERNATIVES[name]
        advice = (f"Use {instead} (when the run was asked for), which every run has" if instead else
                  "No other context name gives it in a run without a logical date")
        return AirflowFailException(
            f"The template{where} uses {{{{ {name} }}}}, but this run has no logical date, so Airflow does not "
            f"set {name!r}. Airflow 3 starts runs from `airflow dags trigger`, the REST API and the UI without "
            f"one unless it is given. {advice}, or trigger the run with a logical date.")
    return AirflowFailException(
        f"The template{where} uses {{{{ {name} }}}}, an Airflow context name this run does not set "
        "(it exists only in some runs or callbacks). Guard it with "
        f"{{% if {name} is defined %}}...{{% endif %}} or use a name every run has (run_id, dag_run, params).")


@contextmanager
def explain_missing_context_names(context: Mapping[str, Any], templates: Mapping[str, Any]) -> Iterator[None]:
    """Around rendering: turn "'ds' is undefined" into an error that says the run lacks it and why."""
    try:
        yield
    except jinja2.UndefinedError as exc:
        error = missing_context_name_error(exc, context, templates)
        if error is None:
            raise
        raise error from exc


class ContextNamesOperator(BaseOperator):
    """Base of this provider's operators and sensors: rendering errors about context names this run lacks
    say so."""

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Context, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        # Here rather than in render_template_fields: mapped (.expand) tasks render through this too.
        templates = {name: getattr(parent, name, None) for name in template_fields} if parent is self else {}
        with explain_missing_context_names(context, templates):
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
