"""The Airflow plugin that mounts the report receiver on the api-server (``/mensatek/reports``).

Registered through the ``airflow.plugins`` entry point of the distribution (the
provider-info ``plugins`` key is read only when ``[core] lazy_discover_providers``
is off, and both together make Airflow record a duplicate-plugin error). Airflow
imports plugins in every process (scheduler, triggerer, every task), so this
module imports nothing but ``AirflowPlugin``: the FastAPI app, the database code
and the vendor parser load only when the api-server asks for ``fastapi_apps``.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/mensatek"


class MensatekReportsPlugin(AirflowPlugin):
    """Mensatek's real-time reports, received by Airflow's api-server."""

    name = "mensatek"

    def __init__(self) -> None:
        super().__init__()
        self._apps: list[dict[str, Any]] | None = None

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built on first use, once per process (the api-server reads it on the plugin instance)."""
        if self._apps is None:
            from airflow_provider_mensatek.webhooks.app import create_app

            self._apps = [{"name": "mensatek-reports", "app": create_app(), "url_prefix": URL_PREFIX}]
        return self._apps
