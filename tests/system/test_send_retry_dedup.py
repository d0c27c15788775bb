"""Under a real dag.test(): a retry after the vendor accepted a send does not send again (AIP-103 store)."""

from __future__ import annotations

from airflow_provider_mensatek.sandbox import Sandbox


def test_retry_after_accepted_send_returns_recorded_result(run_dag, sandbox: Sandbox) -> None:
    result = run_dag("tests/system/dags/mensatek_send_then_worker_crash.py")

    assert result.state == "success"
    sends = sandbox.requests_to("EnviarEMAILCERTIFICADO")
    assert len(sends) == 1, "the retry must not send a second legal notification"
    assert len(sandbox.mensatek.certified) == 1
    (message_id,) = sandbox.mensatek.certified
    assert result.xcoms["send"]["message_ids"] == [message_id]
    assert sends[0].param("Asunto") == "Aviso para {{Nombre}} - test_mensatek_send_then_worker_crash"
