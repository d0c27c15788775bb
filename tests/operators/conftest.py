"""Fixtures for the default allowed roots: a temp dir of the test's own, and a folder outside it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def system_temp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder made the system temp dir (``tempfile.gettempdir()``, a default root) for this test.

    Tests of the default roots need a folder that is outside the temp dir and the DAG folder wherever the
    repository was cloned: under ``/tmp`` the repository itself is inside the machine's temp dir. With the
    temp dir a dedicated folder, :func:`outside_temp` (its sibling) is outside it on every machine.
    """
    base = tmp_path_factory.mktemp("roots")
    (base / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base / "tmp"))
    return base / "tmp"


@pytest.fixture
def outside_temp(system_temp: Path) -> Path:
    """An empty folder outside :func:`system_temp`, the repository and any DAG folder."""
    folder = system_temp.parent / "outside"
    folder.mkdir()
    assert not folder.is_relative_to(tempfile.gettempdir())
    return folder
