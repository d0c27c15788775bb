"""Under a real dag.test(): a retry after the vendor accepted a send does not send again (AIP-103 store).

Airflow 3.2 has no task state store: there the retry sends again, as documented (the send warns
RetriesNotDeduplicatedWarning; set retries=0 on send tasks). Both are checked, on the Airflow the
suite runs on.
"""

from __future__ import annotations

from airflow_provider_mensatek.sandbox import Sandbox
from tests.airflow_versions import AIRFLOW_VERSION


def test_retry_after_accepted_send_returns_recorded_result(run_dag, sandbox: Sandbox) -> None:
    result = run_dag("tests/system/dags/mensatek_send_then_worker_crash.py")

    assert result.state == "success"
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert sends[0].param("Asunto") == "Aviso para {{Nombre}} - test_mensatek_send_then_worker_crash"
    if AIRFLOW_VERSION < (3, 3):
        # No store: nothing tells the retry that its first try's send was accepted.
        assert len(sends) == 2 and len(sandbox.mensatek.certified) == 2
        assert result.xcoms["send"]["message_ids"] == [sorted(sandbox.mensatek.certified)[1]]
        return
    assert len(sends) == 1, "the retry must not send a second legal notification"
    assert len(sandbox.mensatek.certified) == 1
    (message_id,) = sandbox.mensatek.certified
    assert result.xcoms["send"]["message_ids"] == [message_id]
