"""Helpers for operator tests: a task state store stand-in and a minimal task context."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any


class FakeTaskStateStore:
    """The task state store's interface (get/set/delete), kept in a dict across 'tries'."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))  # must be JSON, as in Airflow

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def context(store: FakeTaskStateStore | None) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="avisos", task_id="enviar", run_id="manual__2026-11-24", map_index=-1)
    ctx: dict[str, Any] = {"ti": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx
