"""The LegallyMail signature example DAG, end to end with dag.test() against the sandbox."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.clients._http.rate_limit import reset_limiters
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN

pytestmark = pytest.mark.system


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_limiters()
    yield
    reset_limiters()


def test_example_dag_requests_a_signature_and_notifies_the_signers(run_dag: Any, sandbox: Sandbox,
                                                                   tmp_path: Path) -> None:
    result = run_dag("example_dags/legallymail_signature.py", run_conf={"documents": f"file://{tmp_path}"})

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    # notify_signers and read_signature both follow request_signature, in either order.
    calls = [(r.method, r.path) for r in sandbox.requests]
    assert calls[0] == ("POST", "/legallymail/api/signature/send")
    assert sorted(calls[1:]) == [("GET", "/legallymail/api/signature"), ("POST", "/legallymail/api/send")]
    for req in sandbox.requests:
        assert req.headers["authorization"] == f"Bearer {LEGALLYMAIL_TOKEN}"

    (sign,) = sandbox.requests_to("/api/signature/send")
    assert [s["email"] for s in sign.params["signers"]] == ["ana.garcia@example.com", "bruno.diaz@example.com"]
    assert sign.params["signers"][1]["phone"] == "+34600000000"
    contract = next(tmp_path.glob("contract-*.pdf"))
    assert base64.b64decode(sign.params["document"]) == contract.read_bytes()
    assert sign.params["document_name"].startswith("Contract ") and sign.params["language"] == "es"

    uuid = result.xcoms["request_signature"]["uuid"]
    (mail,) = sandbox.requests_to("/api/send")
    assert mail.params["recipient"] == "ana.garcia@example.com, bruno.diaz@example.com"
    assert uuid in mail.params["message"]
    assert set(result.xcoms["notify_signers"]["tracking_ids"]) == {"ana.garcia@example.com",
                                                                   "bruno.diaz@example.com"}
    status = result.xcoms["read_signature"]
    assert status["uuid"] == uuid and status["status"] == "pending"  # frozen sandbox clock
    assert [s["status"] for s in status["signers"]] == ["pending", "pending"]
    assert LEGALLYMAIL_TOKEN not in json.dumps(result.xcoms)
