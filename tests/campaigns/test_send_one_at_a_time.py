"""Campaign sends one request at a time (campaigns/send.py): interruptions, crashes, refused credentials."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.campaigns.ledger import Ledger
from airflow_provider_mensatek.campaigns.send import BatchSender
from airflow_provider_mensatek.clients import MensatekClient
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.sandbox import Fault, Sandbox
from tests.campaigns.support import PLAIN, edited_batch_file, events_of, forty_recipient_plan, sent_emails
from tests.conftest import MENSATEK_TOKEN, MENSATEK_USER


def test_sequential_sends_never_overlap_and_every_record_is_written_before_returning(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.05), times=4)
    busy, peak, lock = [0], [0], threading.Lock()
    real_request = mensatek_client.transport.session.send

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            return real_request(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(mensatek_client.transport.session, "send", counting)
    outcomes = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert peak[0] == 1  # one request at a time, as a plain loop
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert [s.param("Referenciausuario") for s in sends] == [f"seq-{n:05d}" for n in range(1, 5)]
    assert [s.json_param("Destinatarios")[0]["Email"] for s in sends] == [f"p{i}@example.com" for i in (0, 10, 20, 30)]
    assert [(o["batch_id"], o["state"], o["sent"], len(o["message_ids"])) for o in outcomes] == [
        (f"{n:05d}", "accepted", 10, 10) for n in range(1, 5)]
    assert all(events_of(tmp_path, f"{n:05d}") == ["in_flight", "accepted"] for n in range(1, 5))
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})
    ledger = Ledger(tmp_path / "seq" / "ledger")
    accepted = ledger.records("00002")[-1]
    assert accepted["message_ids"] == outcomes[1]["message_ids"]
    assert accepted["ids_by_key"] == dict(zip([f"p{i}@example.com" for i in range(10, 20)],
                                              outcomes[1]["message_ids"], strict=True))


def test_an_authentication_failure_mid_campaign_stops_and_releases_the_batch_claimed_next(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    from airflow_provider_mensatek.campaigns.auth import clear_auth
    from airflow_provider_mensatek.clients._http.transport import reset_auth_failures
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))  # the first answers normally
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=401))  # the second: credentials refused
    real_call = mensatek_client.call

    def second_after_the_third_is_claimed(*args: Any, **kwargs: Any) -> Any:
        for _ in range(200):  # a vendor slower than the helper: batch 3 is claimed while batch 2 is out
            if kwargs.get("reference") != "seq-00002" or events_of(tmp_path, "00003"):
                break
            threading.Event().wait(0.01)
        return real_call(*args, **kwargs)

    mensatek_client.call = second_after_the_third_is_claimed  # type: ignore[method-assign]
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"])
    mensatek_client.call = real_call  # type: ignore[method-assign]

    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2
    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight", "failed_not_sent"]
    # Claimed while batch 2 was out, never requested: released for the next try, not blocked.
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]
    released = Ledger(tmp_path / "seq" / "ledger").records("00003")[-1]
    assert "claimed, then not requested" in released["detail"] and released["error"] == "AuthenticationError"
    assert events_of(tmp_path, "00004") == []
    assert Ledger(tmp_path / "seq" / "ledger").batch_ids() == ["00001", "00002", "00003"]

    reset_auth_failures()  # a new task process, with the same credential, which the vendor takes again
    with pytest.raises(AuthenticationError, match="ledger clear-auth"):  # the ledger refuses it: no request
        BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2
    clear_auth(Ledger(tmp_path / "seq" / "ledger"), by="ops", note="the vendor unblocked the account")
    again = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [(o["state"], o["replayed"]) for o in again] == [("accepted", True)] + [("accepted", False)] * 3
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 5
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})


class Traced:
    """A client wrapped the way users wrap one (to trace its calls): its public API forwarded, nothing else."""

    PUBLIC = ("call", "build_certified_email_params", "send_certified_email", "credential_id", "vendor")

    def __init__(self, client: MensatekClient) -> None:
        self._client = client
        self.traced: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in self.PUBLIC:
            raise AttributeError(name)
        self.traced.append(name)
        return getattr(self._client, name)


def test_the_ledger_compares_the_clients_public_credential_id(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """A refused credential recorded in the ledger blocks that credential only, known by the public credential_id."""
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    with MensatekClient(MENSATEK_USER, "not-the-token", base_url=sandbox.mensatek_url) as refused:
        with pytest.raises(AuthenticationError):
            BatchSender(tmp_path / "seq", refused, "certified_email", PLAIN).send(plan["batches"][0])
    assert len(sandbox.requests) == 1

    traced = Traced(mensatek_client)  # another credential, seen through the client's public API only
    outcome = BatchSender(tmp_path / "seq", traced, "certified_email", PLAIN).send(plan["batches"][0])

    assert outcome["state"] == "accepted" and "credential_id" in traced.traced
    assert len(sandbox.requests) == 2
    assert sandbox.requests[1].basic_auth == (MENSATEK_USER, MENSATEK_TOKEN)
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(10)})


def test_an_interrupted_campaign_blocks_the_batch_in_flight_and_releases_the_one_claimed_next(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    real_call = mensatek_client.call

    def interrupted_on_the_second(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reference") == "seq-00002":
            # e.g. the task's execution_timeout fires while the request is out, once the helper claimed batch 3
            for _ in range(200):
                if events_of(tmp_path, "00003"):
                    break
                threading.Event().wait(0.01)
            raise KeyboardInterrupt
        return real_call(*args, **kwargs)

    monkeypatch.setattr(mensatek_client, "call", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sender.send_all(plan["batches"])

    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight"]  # may have reached the vendor: a person decides
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]  # known not requested
    assert events_of(tmp_path, "00004") == []
    monkeypatch.undo()
    again = sender.send_all(plan["batches"])
    assert [o["state"] for o in again] == ["accepted", "in_flight", "accepted", "accepted"]
    assert "claimed by a task sending the campaign one batch at a time" in again[1]["error"]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 3  # batches 1, 3 and 4; never 2 blindly


def test_a_batch_that_cannot_be_prepared_is_reported_and_the_others_still_go(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    with edited_batch_file(tmp_path / "seq", "00002") as batch:
        batch["destinatarios"] = batch["destinatarios"].replace("p10@", "intruso@", 1)

    outcomes = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [o["state"] for o in outcomes] == ["accepted", None, "accepted", "accepted"]
    assert "changed on storage after it was planned" in outcomes[1]["error"]
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == [
        "seq-00001", "seq-00003", "seq-00004"]
    assert events_of(tmp_path, "00002") == []


def test_the_same_batch_twice_in_one_call_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    with pytest.raises(ValidationError, match="batch 00002 appears twice"):
        sender.send_all([*plan["batches"], plan["batches"][1]])
    assert len(sandbox.requests) == 0


def test_a_stop_before_the_next_claim_keeps_the_helper_from_claiming(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_provider_mensatek.campaigns.send as campaigns

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    real_call, real_load = mensatek_client.call, campaigns.load_batch
    preparing_third, stopped = threading.Event(), threading.Event()

    def slow_third(campaign: Any, batch_id: str) -> dict[str, Any]:
        if batch_id == "00003":
            preparing_third.set()
            stopped.wait(5)  # still preparing when the sending thread stops
        return real_load(campaign, batch_id)

    def interrupted_on_the_second(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reference") == "seq-00002":
            assert preparing_third.wait(5)
            threading.Timer(0.2, stopped.set).start()
            raise KeyboardInterrupt
        return real_call(*args, **kwargs)

    monkeypatch.setattr(campaigns, "load_batch", slow_third)
    monkeypatch.setattr(mensatek_client, "call", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        sender.send_all(plan["batches"])

    assert events_of(tmp_path, "00001") == ["in_flight", "accepted"]
    assert events_of(tmp_path, "00002") == ["in_flight"]
    assert events_of(tmp_path, "00003") == []  # prepared after the stop: never claimed
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == ["seq-00001"]


def test_bookkeeping_errors_never_hide_the_error_that_stopped_the_campaign(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Storage fails while the helper records batch 1, and the vendor refuses the credentials on batch 2."""
    from airflow_provider_mensatek.clients.errors import AuthenticationError

    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("status", status=401))
    real_append, real_records, real_call = sender.ledger.append, sender.ledger.records, mensatek_client.call

    def second_after_the_third_is_claimed(*args: Any, **kwargs: Any) -> Any:
        for _ in range(200):
            if kwargs.get("reference") != "seq-00002" or events_of(tmp_path, "00003"):
                break
            threading.Event().wait(0.01)
        return real_call(*args, **kwargs)

    failing = {"append": True, "records": True}

    def flaky_append(batch_id: str, event: str, **fields: Any) -> dict[str, Any]:
        if event == "accepted" and failing["append"]:
            failing["append"] = False
            raise OSError("storage: 503 SlowDown")
        return real_append(batch_id, event, **fields)

    def flaky_records(batch_id: str) -> list[dict[str, Any]]:
        if batch_id == "00001" and not failing["append"] and failing["records"]:
            failing["records"] = False
            raise OSError("storage: 503 SlowDown")
        return real_records(batch_id)

    monkeypatch.setattr(sender.ledger, "append", flaky_append)
    monkeypatch.setattr(sender.ledger, "records", flaky_records)
    monkeypatch.setattr(mensatek_client, "call", second_after_the_third_is_claimed)
    with pytest.raises(AuthenticationError):
        sender.send_all(plan["batches"])

    monkeypatch.undo()
    assert not failing["append"] and not failing["records"]  # both storage errors happened
    # What the vendor answered for the unrecorded batch is not lost: the log has its message ids.
    accepted = [m for m in caplog.messages if "00001" in m and "was ACCEPTED by the vendor (10 sent" in m]
    assert len(accepted) == 1 and "message ids [" in accepted[0] and "503 SlowDown" in accepted[0]
    assert events_of(tmp_path, "00001") == ["in_flight"]  # accepted by the vendor, unrecorded: blocked, not resent
    assert events_of(tmp_path, "00002") == ["in_flight", "failed_not_sent"]
    assert events_of(tmp_path, "00003") == ["in_flight", "failed_not_sent"]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_an_accepted_batch_is_replayed_from_the_ledger_even_if_its_batch_file_is_gone(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    plan = forty_recipient_plan(tmp_path)
    sender = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN)
    first = sender.send_all(plan["batches"][:2])
    (tmp_path / "seq" / "batches" / "00001.json").unlink()

    again = sender.send_all(plan["batches"][:2])

    assert again == [{**o, "replayed": True} for o in first]
    assert len(sandbox.requests_to("EnviarEMAILCERTIFICADO")) == 2


def test_a_worker_killed_mid_campaign_leaves_two_batches_blocked_and_sends_nothing_twice(
    tmp_path: Path, sandbox: Sandbox, mensatek_client: MensatekClient
) -> None:
    """SIGKILL (OOM, node lost) while the helper records batch 1 and batch 2's request is out."""
    import os
    import signal
    import textwrap

    plan = forty_recipient_plan(tmp_path)
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=0.0))
    sandbox.inject("EnviarEMAILCERTIFICADO", Fault("delay", delay=1.0))  # batch 2 is out for a second
    code = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from airflow_provider_mensatek.clients import MensatekClient
        from airflow_provider_mensatek.campaigns.plan import read_json
        from airflow_provider_mensatek.campaigns.send import BatchSender
        campaign = Path({str(tmp_path / 'seq')!r})
        client = MensatekClient({MENSATEK_USER!r}, {MENSATEK_TOKEN!r}, base_url={sandbox.mensatek_url!r})
        sender = BatchSender(campaign, client, "certified_email", {PLAIN!r})
        real_finish = sender._finish
        def finish(prepared, read):
            if prepared.batch_id == "00001":
                time.sleep(0.5)  # batch 2's request has reached the vendor, which answers after a second
                os.kill(os.getpid(), signal.SIGKILL)
            return real_finish(prepared, read)
        sender._finish = finish
        sender.send_all(read_json(campaign / "plan.json")["batches"])
    """)
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONPATH": "."})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The vendor has batches 1 and 2; the ledger cannot know: both blocked, nothing else claimed.
    assert [events_of(tmp_path, f"{n:05d}") for n in range(1, 5)] == [["in_flight"], ["in_flight"], [], []]

    again = BatchSender(tmp_path / "seq", mensatek_client, "certified_email", PLAIN).send_all(plan["batches"])

    assert [o["state"] for o in again] == ["in_flight", "in_flight", "accepted", "accepted"]
    assert [s.param("Referenciausuario") for s in sandbox.requests_to("EnviarEMAILCERTIFICADO")] == [
        "seq-00001", "seq-00002", "seq-00003", "seq-00004"]
    for _ in range(300):  # the vendor finishes batch 2 after its second, whoever still listens
        if "p10@example.com" in sent_emails(sandbox):
            break
        threading.Event().wait(0.01)
    assert sent_emails(sandbox) == Counter({f"p{i}@example.com": 1 for i in range(40)})
