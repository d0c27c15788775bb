"""The Mensatek account: credits."""

from __future__ import annotations

from airflow_provider_mensatek.clients._wire import as_float
from airflow_provider_mensatek.clients.errors import (
    MensatekError,
)
from airflow_provider_mensatek.clients.mensatek._core import MensatekCore
from airflow_provider_mensatek.clients.mensatek.wire import FUNCTIONS


class AccountApi(MensatekCore):
    """GetCreditos."""

    def get_credits(self) -> float:
        """Credits left. Cheap, but the vendor frowns on "empty" calls: use it sparingly."""
        record = self.call("get_credits")
        credits = as_float(record.get("cred"))
        if credits is None:
            raise MensatekError("GetCreditos answered without Cred", function=FUNCTIONS["get_credits"],
                                code="parse")
        return credits
