"""Sandbox clock and connection fixtures for the status-wait tests; dag.test() runs for real-run tests."""

from tests.report_states import report_reads, state_receiver  # noqa: F401  (fixtures)
from tests.sandbox_clock import legallymail_conn, mensatek_conn, sandbox_clock  # noqa: F401  (fixtures)
from tests.system.conftest import airflow_db, run_dag  # noqa: F401  (fixtures)
