"""Result attributes removed before release: reading one says what replaced it.

What a vendor status means is classified in ``delivery/`` (the clients import
nothing above them), so ``.state`` and its friends left the result types. A
plain ``AttributeError`` would leave a user of the development version guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar


class RemovedNames:
    """Mixin: ``REMOVED`` maps a removed attribute to what to use instead."""

    REMOVED: ClassVar[Mapping[str, str]] = {}

    if not TYPE_CHECKING:  # for mypy an unknown attribute stays an error; only a failed lookup comes here
        def __getattr__(self, name: str) -> Any:
            instead = type(self).REMOVED.get(name)
            if instead is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            raise AttributeError(f"{type(self).__name__}.{name} was removed before release; use {instead} "
                                 f"(from airflow_provider_mensatek.delivery.statuses import vendor_state)")


#: What the LegallyMail statuses had.
STATE = {"state": "vendor_state(result)"}
