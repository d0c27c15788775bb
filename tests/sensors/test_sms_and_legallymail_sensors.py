"""Mensatek SMS and LegallyMail sensors: coalesced status calls, the shared rate limit, vendor failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.sandbox import Sandbox
from airflow_provider_mensatek.sandbox.pdf import make_pdf
from airflow_provider_mensatek.sensors.delivery import (
    LegallyMailEmailSensor,
    LegallyMailSignatureSensor,
    LegallyMailSmsSensor,
    MensatekSmsDeliverySensor,
)
from tests.conftest import LEGALLYMAIL_TOKEN
from tests.sandbox_clock import DictStateStore, SandboxClock


def context() -> dict[str, Any]:
    return {"task_state_store": DictStateStore()}


def gets(sandbox: Sandbox, path: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "GET" and r.path == f"/legallymail/api/{path}"]


def max_per_sliding_minute(sandbox: Sandbox) -> int:
    times = sorted(r.at.timestamp() for r in sandbox.requests if r.path.startswith("/legallymail/"))
    return max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)


def test_mensatek_sms_waits_for_every_phone_and_names_the_one_that_failed(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
) -> None:
    ok = mensatek_client.send_sms("EMPRESA", ["34600000001", "34600000002"], "Hola").message_id
    bad = mensatek_client.send_sms("EMPRESA", ["34600000003", "34600000404"], "Hola").message_id
    result = MensatekSmsDeliverySensor(task_id="ok", message_ids=ok).execute(context())
    report = result["reports"][str(ok)]
    assert report["status"] == "delivered" and report["code"] == "11,11"
    with pytest.raises(AirflowFailException, match=r"34600000404: La Red responde que el teléfono no existe"):
        MensatekSmsDeliverySensor(task_id="bad", message_ids=[bad]).execute(context())
    requests = sandbox.requests_to("GetReportSMS")
    assert {r.param("Idmensaje") for r in requests} == {ok, bad}
    assert all(r.method == "POST" and r.param("Resp") == "JSON" for r in requests)


def test_legallymail_multi_recipient_send_costs_one_call_per_round(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    sandbox.step_seconds = 600
    client = LegallyMailHook().get_conn()
    sent = client.send_certified_email(["ana@example.com", "luis@example.com", "eva@example.com"], "Aviso",
                                       "<p>Hola</p>")
    ids = list(sent.tracking_ids.values())
    sandbox.clear_requests()
    sensor = LegallyMailEmailSensor(task_id="wait", message_ids=ids, target="read",
                                    poll_policy={"initial_delay": 60, "min_interval": 60, "jitter": 0})
    result = sensor.execute(context())
    assert result["reached"] == ids
    assert all(result["reports"][i]["read_at"] for i in ids)
    lists, singles = gets(sandbox, "emails"), gets(sandbox, "email")
    # The first round tries the list once; after that one GET /email answers for all three recipients.
    assert len(lists) == 1
    assert len({r.at for r in singles}) == len(singles)  # one call per round, not one per id
    # Read at 1200 s; checks at 60, 120, 240, 480, 960, 1920 s (doubling from 60 s).
    assert len(singles) == 6
    assert all(r.bearer_token == LEGALLYMAIL_TOKEN for r in sandbox.requests)
    assert singles[0].query == {"tracking_id": ids[0]}
    assert {r.query["tracking_id"] for r in singles[1:]} == {sent.tracking_id}


def test_legallymail_bounce_fails_with_vendor_text(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    client = LegallyMailHook().get_conn()
    sent = client.send_certified_email(["ana@example.com", "bounce@example.com"], "Aviso", "<p>Hola</p>")
    with pytest.raises(AirflowFailException, match=r"bounce@example.com: Bounced"):
        LegallyMailEmailSensor(task_id="wait", message_ids=sent.tracking_id).execute(context())


def test_recent_signatures_come_in_one_list_call(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    client = LegallyMailHook().get_conn()
    uuids = [client.request_signature(make_pdf(["Contrato"]), [{"name": f"Firmante {i}",
                                                                "email": f"f{i}@example.com"}],
                                      document_name="contrato.pdf").uuid for i in range(4)]
    sandbox.clear_requests()
    result = LegallyMailSignatureSensor(task_id="wait", message_ids=uuids).execute(context())
    assert result["reached"] == uuids
    assert len(gets(sandbox, "signature")) == 0
    lists = gets(sandbox, "signatures")
    assert len(lists) == 1 and lists[0].query == {"limit": "25"}


def test_rejected_signature_fails(sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str) -> None:
    client = LegallyMailHook().get_conn()
    uuid = client.request_signature(make_pdf(["Contrato"]), [{"name": "R", "email": "reject@example.com"}],
                                    document_name="contrato.pdf").uuid
    with pytest.raises(AirflowFailException, match=rf"{uuid}: rejected"):
        LegallyMailSignatureSensor(task_id="wait", message_ids=uuid).execute(context())
    assert [r.query for r in gets(sandbox, "signature")] == [{"uuid": uuid}]


def test_many_sms_stay_within_ten_requests_a_minute(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    client = LegallyMailHook().get_conn()
    uuids = [client.send_certified_sms(f"+3460000{i:04d}", "Codigo 1234").uuid for i in range(24)]
    result = LegallyMailSmsSensor(task_id="wait", message_ids=uuids, target="certified").execute(context())
    assert result["reached"] == uuids
    assert max_per_sliding_minute(sandbox) <= 10
    # Every uuid asked at least once, final ones never again.
    per_id = {u: len([r for r in gets(sandbox, "sms") if r.query.get("uuid") == u]) for u in uuids}
    assert min(per_id.values()) >= 1
    json.dumps(result)


def test_unknown_tracking_id_fails_after_one_request(
    sandbox: Sandbox, sandbox_clock: SandboxClock, legallymail_conn: str,
) -> None:
    with pytest.raises(AirflowFailException, match=r"cm_nope: 404"):
        LegallyMailEmailSensor(task_id="wait", message_ids="cm_nope").execute(context())
    assert [(r.method, r.path, r.query) for r in sandbox.requests] == [
        ("GET", "/legallymail/api/email", {"tracking_id": "cm_nope"})]


def test_mensatek_sms_sensor_reads_reports_in_the_documents_single_quoted_form(
    sandbox: Sandbox, sandbox_clock: SandboxClock, mensatek_conn: str, mensatek_client: MensatekClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # mensatek-sms.txt prints Informe as [{'Fecha':'…','Resultado':11,…}]: not JSON. Read as "no
    # report", the sensor would wait forever for statuses the vendor had already given.
    monkeypatch.setattr(sandbox.mensatek, "sms_report_style", "documented")
    ok = mensatek_client.send_sms("EMPRESA", ["34600000001", "34600000002"], "Hola").message_id
    bad = mensatek_client.send_sms("EMPRESA", ["34600000404"], "Hola").message_id
    result = MensatekSmsDeliverySensor(task_id="ok", message_ids=ok).execute(context())
    assert result["reports"][str(ok)]["code"] == "11,11" and result["reached"] == [str(ok)]
    assert len(sandbox.requests_to("GetReportSMS")) == 1  # the first check already saw "delivered"
    with pytest.raises(AirflowFailException, match=r"34600000404: La Red responde que el teléfono no existe"):
        MensatekSmsDeliverySensor(task_id="bad", message_ids=bad).execute(context())
