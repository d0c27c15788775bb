"""The campaign plan operator's ``recipients_path``: local files only from the allowed roots, as attachments.

A templated ``recipients_path`` (``dag_run.conf``, an XCom) must not read
``/proc/self/environ`` or ``/etc/passwd`` into a campaign (its lines would
reach rejected.jsonl, XCom and the vendor), hang on a FIFO or read a device.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.operators.campaigns import (
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
)
from airflow_provider_mensatek.sandbox import Sandbox
from tests.clients.test_local_files import run_guarded
from tests.operator_support import FakeTaskStateStore, context

CSV = "name,email\nAna,ana@example.com\n"


@pytest.fixture
def conns(conn: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.delenv("AIRFLOW__MENSATEK__ALLOWED_LOCAL_ROOTS", raising=False)
    return conn


@pytest.fixture
def temp_dir(system_temp: Path) -> Path:
    """A folder in the system temp dir (a default root), where an upstream task would write the CSV."""
    return Path(tempfile.mkdtemp(prefix="rp-", dir=system_temp))


@pytest.fixture
def not_temp(outside_temp: Path) -> Path:
    """``dags/`` and ``elsewhere/``, each with the CSV, outside the temp dir wherever the repository lives."""
    for sub in ("dags", "elsewhere"):
        (outside_temp / sub).mkdir()
        (outside_temp / sub / "people.csv").write_text(CSV)
    return outside_temp


def planner(source: Any, campaign: Path, **kwargs: Any) -> MensatekPlanCampaignOperator:
    return MensatekPlanCampaignOperator(task_id=kwargs.pop("task_id", "plan"), campaign_path=f"file://{campaign}",
                                        campaign_reference="camp", channel="certified_email",
                                        recipients_path=source, file_format="csv", **kwargs)


def plan_and_send(operator: MensatekPlanCampaignOperator) -> None:
    ti = SimpleNamespace(xcom_push=lambda **_: None)
    (batch,) = operator.execute({"ti": ti})  # type: ignore[arg-type]
    MensatekSendCampaignBatchOperator(task_id="send", batch=batch, sender="avisos@example.com", subject="s",
                                      message="m").execute(context(FakeTaskStateStore()))  # type: ignore[arg-type]


def sent_to(sandbox: Sandbox) -> list[str]:
    (request,) = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    return [r["Email"] for r in json.loads(request.param("Destinatarios"))]


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "people.csv")
    return str(folder / "people.csv")


def _symlink_to(target: str) -> Any:
    def make(folder: Path) -> str:
        (folder / "people.csv").symlink_to(target)
        return str(folder / "people.csv")
    return make


def _named(name: str) -> Any:
    def make(folder: Path) -> str:
        (folder / name).write_text(CSV)
        return str(folder / name)
    return make


#: name -> (build the source in a temp-dir folder, a fragment of the refusal).
REFUSED: dict[str, tuple[Any, str]] = {
    "proc_self_environ": (lambda folder: "/proc/self/environ", "/proc, /sys, /dev are never read"),
    "proc_file_url": (lambda folder: "file:///proc/self/environ", "/proc, /sys, /dev are never read"),
    "etc_passwd": (lambda folder: "/etc/passwd", "is outside the allowed roots"),
    "etc_passwd_file_url": (lambda folder: "file:///etc/passwd", "is outside the allowed roots"),
    "dev_zero": (lambda folder: "/dev/zero", "/proc, /sys, /dev are never read"),
    "fifo_in_temp_dir": (_fifo, "is a FIFO (named pipe), not a regular file"),
    "symlink_out_of_the_roots": (_symlink_to("/etc/passwd"), "is outside the allowed roots"),
    "kerberos_ticket_cache": (_named("krb5cc_1000"), "Kerberos credential cache"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_anything_is_read_and_without_a_retry(conns: Sandbox, tmp_path: Path, temp_dir: Path,
                                                             case: str) -> None:
    build, fragment = REFUSED[case]
    source = build(temp_dir)
    error = run_guarded(lambda: planner(source, tmp_path / "campaign").execute({"ti": None}),  # type: ignore[arg-type]
                        fifo=temp_dir / "people.csv" if case == "fifo_in_temp_dir" else None)

    assert isinstance(error, AirflowFailException), error
    assert "Cannot read recipients_path 'file://" + str(source).removeprefix("file://") in str(error)
    assert fragment in str(error)
    assert "root:" not in str(error)  # no line of /etc/passwd (nor of anything else) was read into it
    assert not (tmp_path / "campaign").exists()  # no plan, no rejected.jsonl
    assert conns.requests == []


def test_a_file_in_the_temp_dir_is_planned_and_sent_by_default(conns: Sandbox, tmp_path: Path,
                                                               temp_dir: Path) -> None:
    (temp_dir / "people.csv").write_text(CSV)
    plan_and_send(planner(f"file://{temp_dir}/people.csv", tmp_path / "campaign"))
    assert sent_to(conns) == ["ana@example.com"]


def test_the_dag_folder_is_a_default_root_and_allowed_roots_replaces_the_defaults(
        conns: Sandbox, tmp_path: Path, not_temp: Path, temp_dir: Path) -> None:
    with DAG("recipients", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        inside = planner(str(not_temp / "dags" / "people.csv"), tmp_path / "in")
        neighbour = planner(str(not_temp / "elsewhere" / "people.csv"), tmp_path / "out", task_id="neighbour")
        allowed = planner(str(not_temp / "elsewhere" / "people.csv"), tmp_path / "allowed", task_id="allowed",
                          allowed_roots=[str(not_temp / "elsewhere")])
        narrowed = planner(str(temp_dir / "people.csv"), tmp_path / "narrowed", task_id="narrowed",
                           allowed_roots=[])
    dag.fileloc = str(not_temp / "dags" / "campaign.py")
    (temp_dir / "people.csv").write_text(CSV)

    with pytest.raises(AirflowFailException, match="is outside the allowed roots") as info:
        neighbour.execute({"ti": None})  # type: ignore[arg-type]
    assert str(not_temp / "dags") in str(info.value) and tempfile.gettempdir() in str(info.value)
    with pytest.raises(AirflowFailException, match=r"outside any allowed root \(allowed_roots is empty\)"):
        narrowed.execute({"ti": None})  # type: ignore[arg-type]
    assert conns.requests == []
    plan_and_send(inside)
    assert sent_to(conns) == ["ana@example.com"]
    conns.clear_requests()
    plan_and_send(allowed)
    assert sent_to(conns) == ["ana@example.com"]


def test_allowed_roots_of_the_plan_is_not_templated() -> None:
    assert "allowed_roots" not in MensatekPlanCampaignOperator.template_fields
