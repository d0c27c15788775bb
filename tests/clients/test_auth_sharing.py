"""A refused credential is tried once per process, however many threads use it at the same moment.

Until a credential has had one answer that is not a refusal, one request with
it is in flight at a time; the others wait for that answer and then raise the
remembered AuthenticationError without a request (or go ahead when it was
accepted). The sandbox counts what it received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.plan import plan_campaign
from airflow_provider_mensatek.campaigns.recipients import rows_from_list
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import (
    LegallyMailClient,
    MensatekClient,
    RetrySettings,
    remember_auth_failure,
    remembered_auth_failure,
)
from airflow_provider_mensatek.clients.errors import AuthenticationError, TransientError
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER
from tests.legallymail_support import FakeTime, legallymail_requests, make_client

INVALID_TOKEN_200 = '{"success": false, "message": "Invalid API token"}'


def together(n: int, call: Callable[[], Any]) -> list[BaseException | Any]:
    """Run ``call`` in ``n`` threads released at the same instant; each one's result or error."""
    start = threading.Barrier(n)
    results: list[BaseException | Any] = [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = call()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_parallel_calls_with_a_refused_mensatek_token_make_one_request(sandbox: Sandbox) -> None:
    client = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url)
    sandbox.inject("GetCreditos", Fault("delay", delay=0.3))  # the others are surely waiting meanwhile
    results = together(8, client.get_credits)
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len(sandbox.requests) == 1


def test_a_mensatek_campaign_with_four_parallel_batches_makes_one_failed_login(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    rows = [{"email": f"p{i}@example.com"} for i in range(40)]
    plan = plan_campaign(rows_from_list(rows), tmp_path / "c", channel="certified_email",
                         campaign_reference="c", batch_size=5)
    client = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.3))
    sender = BatchSender(tmp_path / "c", client, "certified_email",
                         {"sender": "avisos@example.com", "subject": "Hola", "message": "Texto"})
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"], max_parallel=4)
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 1


def test_a_legallymail_campaign_with_ten_parallel_batches_makes_one_failed_login(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    emails = [f"lm{i}@example.com" for i in range(40)]
    plan = plan_campaign(rows_from_list(emails), tmp_path / "lm", channel="legallymail_certified_email",
                         campaign_reference="lm", batch_size=2)
    client = make_client(sandbox, "wrong-token", FakeTime(sandbox), per_minute=1000)
    sandbox.inject("/api/send", Fault("delay", delay=0.3))
    sender = BatchSender(tmp_path / "lm", client, "legallymail_certified_email",
                         {"subject": "Aviso", "message": "<p>Texto</p>"})
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"], max_parallel=10)
    assert len(legallymail_requests(sandbox)) == 1


def test_legallymail_200_success_false_invalid_token_is_an_auth_failure(sandbox: Sandbox) -> None:
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    sandbox.inject("/api/info", Fault("status", status=200, body=INVALID_TOKEN_200))
    with pytest.raises(AuthenticationError, match="Invalid API token"):
        client.get_info()
    with pytest.raises(AuthenticationError, match="already failed"):  # remembered: no second login
        client.get_info()
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize("message", ["Invalid API token", "Token inválido o no proporcionado", "Unauthenticated."])
def test_legallymail_200_refusals_in_parallel_make_one_request(sandbox: Sandbox, message: str) -> None:
    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url, requests_per_minute=1000)
    body = json.dumps({"success": False, "message": message})
    sandbox.inject("/api/send", Fault("status", status=200, body=body), times=10)
    results = together(10, lambda: client.send_certified_email(["a@example.com"], "S", "m"))
    assert all(isinstance(r, AuthenticationError) for r in results), results
    assert len(sandbox.requests) == 1


def test_other_refusals_of_success_false_stay_what_they_were(sandbox: Sandbox) -> None:
    from airflow_provider_mensatek.clients.errors import InvalidRequestError

    client = LegallyMailClient(LEGALLYMAIL_TOKEN, base_url=sandbox.legallymail_url)
    sandbox.inject("/api/info", Fault("status", status=200, body='{"success": false, "message": "Bad subject"}'))
    with pytest.raises(InvalidRequestError):
        client.get_info()
    assert client.get_info().remaining_emails == 100  # the token was not taken for refused


def test_once_a_token_is_accepted_parallel_calls_run_in_parallel(sandbox: Sandbox) -> None:
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
    assert client.get_credits() == 1000.0
    sandbox.inject("GetCreditos", Fault("delay", delay=0.3), times=4)
    inside, peak, lock = [0], [0], threading.Lock()
    real_send = client.transport.session.send

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            return real_send(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    client.transport.session.send = counting  # type: ignore[method-assign]
    assert together(4, client.get_credits) == [1000.0] * 4
    assert peak[0] == 4  # no gate any more: the credential is known good


def test_a_call_that_got_no_answer_proves_nothing_the_next_waiter_tries(sandbox: Sandbox, sleeps: Any) -> None:
    client = MensatekClient(MENSATEK_USER, "wrong-token", base_url=sandbox.mensatek_url,
                            retry=RetrySettings(max_attempts=1), sleep=sleeps)
    sandbox.inject("GetCreditos", Fault("status", status=503))  # no verdict on the credential
    results = together(3, client.get_credits)
    assert sorted(type(r).__name__ for r in results) == ["AuthenticationError", "AuthenticationError",
                                                          "TransientError"]
    assert isinstance(next(r for r in results if isinstance(r, TransientError)), TransientError)
    assert len(sandbox.requests) == 2  # the 503, then one refused login


def test_a_failure_recorded_elsewhere_is_honoured_without_a_request(sandbox: Sandbox) -> None:
    """What a campaign task does with an auth failure its ledger recorded in another process."""
    client = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url)
    assert remembered_auth_failure(client.credential_id) is None
    remember_auth_failure(client.credential_id, AuthenticationError("refused in batch task 3", code=-1))
    with pytest.raises(AuthenticationError, match="already failed"):
        client.get_credits()
    assert sandbox.requests == []
    assert remembered_auth_failure(client.credential_id) is not None
