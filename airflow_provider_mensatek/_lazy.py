"""PEP 562 re-exports: a package names its public classes without importing the modules that hold them.

The dag-processor re-imports every DAG file every 30 s. A DAG that imports one
operator must not pay for the vendor clients (``requests``, ``urllib3``, the
transport) because an ``__init__`` on the way re-exports them: the module
behind a name is imported the first time the name is read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``exports`` map a public name to its module.

    The value is stored in the package once read, so later reads are plain attribute lookups.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
