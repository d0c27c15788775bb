"""The plugin as Airflow loads it: registered by entry point, light to import, the app built only when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_mensatek.webhooks.plugin import URL_PREFIX, MensatekReportsPlugin

_PROBE = """
import json, sys
import airflow.plugins_manager
before = set(sys.modules)
import airflow_provider_mensatek.webhooks.plugin as plugin
loaded = sorted(set(sys.modules) - before)
instance = plugin.MensatekReportsPlugin()
after_instance = sorted(set(sys.modules) - before)
[app] = instance.fastapi_apps
print(json.dumps({"loaded": loaded, "after_instance": after_instance, "fastapi": "fastapi" in sys.modules,
                  "prefix": app["url_prefix"], "docs": [app["app"].docs_url, app["app"].redoc_url,
                  app["app"].openapi_url], "same": instance.fastapi_apps is instance.fastapi_apps}))
"""


def test_importing_the_plugin_loads_no_web_or_database_code() -> None:
    # Airflow imports plugins in every process (scheduler, triggerer, each task): what it costs them.
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=os.environ.copy(),
                         timeout=120, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    # Nothing but the plugin's own package (the top package may already be there: Airflow's provider discovery).
    assert set(probe["loaded"]) - {"airflow_provider_mensatek"} == {"airflow_provider_mensatek.webhooks",
                                                                    "airflow_provider_mensatek.webhooks.plugin"}
    assert probe["after_instance"] == probe["loaded"]
    # Asked for its apps (only the api-server does), it builds the receiver, once, without docs routes.
    assert probe["fastapi"] and probe["prefix"] == "/mensatek" == URL_PREFIX
    assert probe["docs"] == [None, None, None] and probe["same"]


def test_airflow_loads_the_plugin_from_the_entry_point_only() -> None:
    out = subprocess.run([sys.executable, "-m", "airflow", "plugins", "--output", "json"], capture_output=True,
                         text=True, env=os.environ.copy(), timeout=180, check=True).stdout
    plugins = [p for p in json.loads(out[out.index("["):]) if p["name"] == "mensatek"]
    assert len(plugins) == 1
    assert "airflow-provider-mensatek" in plugins[0]["source"] and "airflow.plugins" in plugins[0]["source"]
    assert [app["url_prefix"] for app in plugins[0]["fastapi_apps"]] == ["/mensatek"]
    assert MensatekReportsPlugin.name == "mensatek"
