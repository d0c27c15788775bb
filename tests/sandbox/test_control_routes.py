"""The ``/_sandbox/`` control routes refuse, with a 400 naming it, any value they cannot use, and change nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import requests

from airflow_provider_mensatek.sandbox import Clock, Fault, Sandbox
from airflow_provider_mensatek.sandbox.server import MADRID
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER

GOOD_FAULT = {"function": "GetCreditos", "kind": "status", "status": "429", "retry_after": "7"}


def control(sandbox: Sandbox, route: str, method: str = "POST", **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/_sandbox/{route}", timeout=10, **kwargs)


def credits_call(sandbox: Sandbox) -> requests.Response:
    return requests.post(f"{sandbox.mensatek_url}/GetCreditos", auth=(MENSATEK_USER, MENSATEK_TOKEN),
                         data={"Resp": "JSON"}, timeout=10)


@pytest.mark.parametrize(("changes", "named"), [
    ({"status": "abc"}, "status"), ({"status": "99"}, "status"), ({"status": "600"}, "status"),
    ({"status": "1.5"}, "status"), ({"retry_after": "abc"}, "retry_after"), ({"retry_after": "nan"}, "retry_after"),
    ({"retry_after": "-1"}, "retry_after"), ({"delay": "nan"}, "delay"), ({"delay": "inf"}, "delay"),
    ({"delay": "-1"}, "delay"), ({"delay": "301"}, "delay"), ({"times": "0"}, "times"), ({"times": "abc"}, "times"),
    ({"times": "1.5"}, "times"), ({"kind": "explode"}, "kind"), ({"kind": None}, "kind"),
    ({"function": None}, "function"), ({"function": " "}, "function"), ({"retry-after": "7"}, "retry-after"),
])
def test_bad_fault_parameters_get_400_and_inject_nothing(sandbox: Sandbox, changes: dict[str, Any],
                                                         named: str) -> None:
    params = {k: v for k, v in {**GOOD_FAULT, **changes}.items() if v is not None}
    response = control(sandbox, "faults", data=params)
    assert response.status_code == 400 and named in response.json()["error"]
    assert credits_call(sandbox).json()[0]["Res"] == "1"  # no fault was armed


@pytest.mark.parametrize(("member", "named"), [('"status": true', "status"), ('"status": [429]', "status"),
                                               ('"delay": 1e400', "delay"), ('"delay": NaN', "delay")])
def test_bad_fault_parameters_in_json_get_400_too(sandbox: Sandbox, member: str, named: str) -> None:
    body = '{"function": "GetCreditos", "kind": "delay", ' + member + "}"
    response = control(sandbox, "faults", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and named in response.json()["error"]


def test_good_fault_parameters_work_as_text_or_json(sandbox: Sandbox) -> None:
    assert control(sandbox, "faults", data=GOOD_FAULT).json() == {"ok": True}
    limited = credits_call(sandbox)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert control(sandbox, "faults", json={"function": "GetCreditos", "kind": "garble_after_accept", "status": 502,
                                            "body": "<html>bad gateway</html>", "times": 2}).status_code == 200
    assert [(r.status_code, r.text) for r in (credits_call(sandbox), credits_call(sandbox))] == \
        [(502, "<html>bad gateway</html>")] * 2
    assert credits_call(sandbox).status_code == 200


@pytest.mark.parametrize(("params", "named"), [
    ({"advance": "nan"}, "advance"), ({"advance": "inf"}, "advance"), ({"advance": "abc"}, "advance"),
    ({"advance": "1e300"}, "advance"), ({"speed": "nan"}, "speed"), ({"speed": "-1"}, "speed"),
    ({"speed": "inf"}, "speed"), ({"speed": "abc"}, "speed"), ({"advance": "60", "speed": "abc"}, "speed"),
    ({"when": "2030-01-01"}, "when"),
])
def test_bad_clock_parameters_get_400_and_leave_the_clock_alone(sandbox: Sandbox, params: dict[str, str],
                                                                named: str) -> None:
    before = control(sandbox, "clock", "GET").json()["now"]
    response = control(sandbox, "clock", data=params)
    assert response.status_code == 400 and named in response.json()["error"]
    assert control(sandbox, "clock", "GET").json()["now"] == before
    assert credits_call(sandbox).status_code == 200  # every request reads the clock: it must still work


def test_advancing_past_the_calendar_gets_400(sandbox: Sandbox) -> None:
    sandbox.clock.set(datetime(9990, 1, 1, tzinfo=MADRID))
    response = control(sandbox, "clock", data={"advance": str(50 * 365 * 86_400)})
    assert response.status_code == 400 and "calendar" in response.json()["error"]
    assert sandbox.clock.now() == datetime(9990, 1, 1, tzinfo=MADRID)


def test_changing_the_speed_keeps_the_time_already_run(sandbox: Sandbox) -> None:
    sandbox.clock = Clock(speed=1000.0)
    running = datetime.fromisoformat(control(sandbox, "clock", "GET").json()["now"])
    frozen = datetime.fromisoformat(control(sandbox, "clock", data={"speed": "0"}).json()["now"])
    assert frozen >= running  # time never runs backwards when it is slowed down


@pytest.mark.parametrize(("route", "method", "params"), [
    ("requests", "GET", {"function": "GetCreditos"}), ("reset", "POST", {"everything": "1"}),
])
def test_routes_without_parameters_refuse_any(sandbox: Sandbox, route: str, method: str,
                                              params: dict[str, str]) -> None:
    response = control(sandbox, route, method, params=params)
    assert response.status_code == 400 and "no parameters" in response.json()["error"]


def test_a_wrong_method_gets_405_with_allow(sandbox: Sandbox) -> None:
    response = control(sandbox, "reset", "GET")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_the_python_api_refuses_the_same_values() -> None:
    for bad in ({"kind": "explode"}, {"kind": "status", "status": 1000}, {"kind": "delay", "delay": float("inf")},
                {"kind": "status", "retry_after": float("nan")}, {"kind": "status", "status": True}):
        with pytest.raises(ValueError):
            Fault(**bad)
    with Sandbox() as sandbox, pytest.raises(ValueError, match="times"):
        sandbox.inject("GetCreditos", Fault("drop"), times=0)
    with pytest.raises(ValueError, match="speed"):
        Clock(speed=float("nan"))
