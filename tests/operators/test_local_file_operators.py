"""Every operator that sends a file: which local folders it may read (allowed_roots), against the sandbox.

The default roots are the DAG file's folder, the system temp dir and
``[mensatek] allowed_local_roots``; ``allowed_roots`` is not templated.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.operators.campaigns import (
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
)
from airflow_provider_mensatek.operators.certified_email import MensatekSendCertifiedEmailOperator
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.files import MensatekUploadFileOperator
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
)
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.legallymail_support import PDF
from tests.operator_support import FakeTaskStateStore, context


@pytest.fixture
def conns(conn: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_LEGALLYMAIL_DEFAULT", json.dumps({
        "conn_type": "legallymail", "password": LEGALLYMAIL_TOKEN, "host": conn.legallymail_url,
        "extra": {"max_retries": 1}}))
    monkeypatch.delenv("AIRFLOW__MENSATEK__ALLOWED_LOCAL_ROOTS", raising=False)
    return conn


@pytest.fixture
def temp_file(system_temp: Path) -> Path:
    """A PDF in the system temp dir, where an upstream task would write it."""
    folder = Path(tempfile.mkdtemp(prefix="lf-op-", dir=system_temp))
    (folder / "nota.pdf").write_bytes(PDF)
    return folder / "nota.pdf"


@pytest.fixture
def not_temp(outside_temp: Path) -> Path:
    """``dags/`` and ``elsewhere/``, each with a PDF, outside the temp dir wherever the repository lives."""
    for sub in ("dags", "elsewhere"):
        (outside_temp / sub).mkdir()
        (outside_temp / sub / "nota.pdf").write_bytes(PDF)
    return outside_temp


def _adjuntos(request: Any) -> bytes:
    return base64.b64decode(json.loads(request.params["Adjuntos"])[0]["Contenido"])


#: name -> (operator built around the source, the bytes the vendor received).
OPERATORS: dict[str, tuple[Callable[..., Any], Callable[[Any], bytes]]] = {
    "certified_email": (
        lambda src, task_id="send", **kw: MensatekSendCertifiedEmailOperator(
            task_id=task_id, sender="avisos@example.com", recipients=["ana@example.com"], subject="s",
            message="m", attachments=[src], **kw),
        _adjuntos),
    "email": (
        lambda src, task_id="send", **kw: MensatekSendEmailOperator(
            task_id=task_id, sender_email="avisos@example.com", recipients=["ana@example.com"], subject="s",
            html="<p>m</p>", attachments=[src], **kw),
        _adjuntos),
    "upload_file": (
        lambda src, task_id="send", **kw: MensatekUploadFileOperator(task_id=task_id, source=src,
                                                                     name="nota.pdf", **kw),
        lambda request: request.params["Fichero"]["content"]),
    "legallymail_email": (
        lambda src, task_id="send", **kw: LegallyMailSendCertifiedEmailOperator(
            task_id=task_id, recipients=["ana@example.com"], subject="s", message="<p>m</p>", attachments=[src],
            **kw),
        lambda request: base64.b64decode(request.params["attachments"][0]["content"])),
    "legallymail_signature": (
        lambda src, task_id="send", **kw: LegallyMailRequestSignatureOperator(
            task_id=task_id, document=src, signers=[{"name": "Ana", "email": "ana@example.com"}], **kw),
        lambda request: base64.b64decode(request.params["document"])),
}


def test_allowed_roots_is_never_templated() -> None:
    classes = [MensatekSendCertifiedEmailOperator, MensatekSendEmailOperator, MensatekUploadFileOperator,
               LegallyMailSendCertifiedEmailOperator, LegallyMailRequestSignatureOperator,
               MensatekSendCampaignBatchOperator]
    for cls in classes:
        assert "allowed_roots" not in cls.template_fields, cls


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("source", [
    "/proc/self/environ", "/etc/passwd", "/dev/zero", "file:///etc/passwd",
    ObjectStoragePath("file:///etc/passwd"), ObjectStoragePath("file:///proc/self/environ"),
    "https://169.254.169.254/latest/meta-data/contract.pdf",
], ids=str)
def test_refused_without_a_request_and_without_a_retry(conns: Sandbox, name: str, source: Any) -> None:
    store = FakeTaskStateStore()
    build, _ = OPERATORS[name]
    with pytest.raises(AirflowFailException, match=r"Cannot read (attachment|document)") as info:
        build(source).execute(context(store))
    assert str(source).replace("file://", "") in str(info.value)
    assert conns.requests == [] and store.data == {}  # nothing sent; nothing blocks a later try


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("as_url", [False, True])
def test_a_file_in_the_temp_dir_is_sent_by_default(conns: Sandbox, temp_file: Path, name: str,
                                                   as_url: bool) -> None:
    build, received = OPERATORS[name]
    build(f"file://{temp_file}" if as_url else str(temp_file)).execute(context(FakeTaskStateStore()))
    (request,) = conns.requests
    assert received(request) == PDF


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_the_dag_folder_is_a_default_root_and_its_neighbours_are_not(conns: Sandbox, not_temp: Path,
                                                                     name: str) -> None:
    build, received = OPERATORS[name]
    with DAG("local_files", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        inside = build(str(not_temp / "dags" / "nota.pdf"))
        neighbour = build(str(not_temp / "elsewhere" / "nota.pdf"), task_id="neighbour")
    dag.fileloc = str(not_temp / "dags" / "notices.py")

    with pytest.raises(AirflowFailException, match="is outside the allowed roots") as info:
        neighbour.execute(context(FakeTaskStateStore()))
    assert str(not_temp / "dags") in str(info.value) and tempfile.gettempdir() in str(info.value)
    assert conns.requests == []
    inside.execute(context(FakeTaskStateStore()))
    (request,) = conns.requests
    assert received(request) == PDF


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_the_deployment_option_widens_the_default_roots(conns: Sandbox, not_temp: Path, name: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    build, received = OPERATORS[name]
    source = str(not_temp / "elsewhere" / "nota.pdf")
    with pytest.raises(AirflowFailException, match="is outside the allowed roots"):
        build(source).execute(context(FakeTaskStateStore()))
    monkeypatch.setenv("AIRFLOW__MENSATEK__ALLOWED_LOCAL_ROOTS", f"/nonexistent/x, {not_temp / 'elsewhere'}")
    build(source).execute(context(FakeTaskStateStore()))
    (request,) = conns.requests
    assert received(request) == PDF


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_an_explicit_allowed_roots_replaces_the_defaults(conns: Sandbox, temp_file: Path, not_temp: Path,
                                                        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, received = OPERATORS[name]
    monkeypatch.setenv("AIRFLOW__MENSATEK__ALLOWED_LOCAL_ROOTS", str(temp_file.parent))
    with pytest.raises(AirflowFailException, match=r"outside any allowed root \(allowed_roots is empty\)"):
        build(str(temp_file), allowed_roots=[]).execute(context(FakeTaskStateStore()))
    with pytest.raises(AirflowFailException, match="allowed_roots must be absolute"):
        build(str(temp_file), allowed_roots=["{{ dag_run.conf['roots'] }}"]).execute(context(FakeTaskStateStore()))
    assert conns.requests == []
    build(str(not_temp / "elsewhere" / "nota.pdf"), allowed_roots=[str(not_temp / "elsewhere")]).execute(
        context(FakeTaskStateStore()))
    (request,) = conns.requests
    assert received(request) == PDF


def _campaign(tmp_path: Path) -> dict[str, Any]:
    ctx: Any = {"ti": type("TI", (), {"xcom_push": lambda *a, **k: None})()}
    batches = MensatekPlanCampaignOperator(
        task_id="plan", campaign_path=f"file://{tmp_path}/campaign", campaign_reference="camp",
        channel="certified_email", recipients=[{"name": "Ana", "email": "ana@example.com"}]).execute(ctx)
    batch: dict[str, Any] = batches[0]
    return batch


def test_a_campaign_batch_refuses_a_local_file_outside_its_roots(conns: Sandbox, tmp_path: Path,
                                                                  temp_file: Path) -> None:
    batch = _campaign(tmp_path)

    def send(**kwargs: Any) -> Any:
        return MensatekSendCampaignBatchOperator(task_id="send", batch=batch, sender="avisos@example.com",
                                                 subject="s", message="m", **kwargs).execute(
            context(FakeTaskStateStore()))

    with pytest.raises(AirflowFailException, match="Cannot read attachment '/proc/self/environ'"):
        send(options={"attachments": ["/proc/self/environ"]})
    # options are templated: they cannot carry allowed_roots
    with pytest.raises(AirflowFailException, match="allowed_roots"):
        send(options={"attachments": ["/etc/passwd"], "allowed_roots": ["/"]})
    assert conns.requests_to("EnviarEMAILCERTIFICADO") == []
    send(options={"attachments": [str(temp_file)]})
    (request,) = conns.requests_to("EnviarEMAILCERTIFICADO")
    assert _adjuntos(request) == PDF


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("how", ["the_cache", "a_hard_link_to_it"])
def test_the_configured_kerberos_ccache_is_never_sent_whatever_the_roots(
        conns: Sandbox, temp_file: Path, monkeypatch: pytest.MonkeyPatch, name: str, how: str) -> None:
    """A templated path from dag_run.conf must not mail the worker's Kerberos ticket (it sits in the temp dir)."""
    ccache = temp_file.parent / "airflow_ccache"
    ccache.write_bytes(PDF)
    monkeypatch.setenv("AIRFLOW__KERBEROS__CCACHE", str(ccache))
    source = ccache
    if how == "a_hard_link_to_it":
        source = temp_file.parent / "contract.pdf"
        source.hardlink_to(ccache)
    build, _ = OPERATORS[name]
    for roots in (None, [str(temp_file.parent)]):
        with pytest.raises(AirflowFailException, match="credential cache"):
            build(str(source), allowed_roots=roots).execute(context(FakeTaskStateStore()))
    assert conns.requests == []
    build(str(temp_file)).execute(context(FakeTaskStateStore()))  # its neighbour is an ordinary file
    assert len(conns.requests) == 1


def test_the_configured_kerberos_ccache_is_never_planned_as_recipients(
        conns: Sandbox, temp_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ccache = temp_file.parent / "ccache.csv"
    ccache.write_text("name,email\nAna,ana@example.com\n")
    monkeypatch.setenv("AIRFLOW__KERBEROS__CCACHE", str(ccache))
    with pytest.raises(AirflowFailException, match=r"Cannot read recipients_path .*credential cache"):
        MensatekPlanCampaignOperator(task_id="plan", campaign_path=f"file://{tmp_path}/campaign",
                                     campaign_reference="camp", channel="certified_email",
                                     recipients_path=str(ccache)).execute({"ti": None})  # type: ignore[arg-type]
    assert not (tmp_path / "campaign").exists() and conns.requests == []
