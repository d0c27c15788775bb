"""Sandbox clock and connection fixtures for the status-wait tests."""

from tests.sandbox_clock import legallymail_conn, mensatek_conn, sandbox_clock  # noqa: F401  (fixtures)
