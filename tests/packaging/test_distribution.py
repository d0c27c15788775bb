"""The sdist and wheel a release would upload: built, passed by twine, and holding what they should.

Built once per module without build isolation (the backend comes from the test
extra), so the tests need no package index.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

from airflow_provider_mensatek import __version__

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_mensatek"
DIST_INFO = f"{PACKAGE}-{__version__}.dist-info"
SDIST_ROOT = f"{PACKAGE}-{__version__}"


@dataclass(frozen=True)
class Build:
    output: str
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Build(output, wheel, sdist)


def wheel_metadata(build: Build) -> Message:
    with zipfile.ZipFile(build.wheel) as whl:
        return Parser().parsestr(whl.read(f"{DIST_INFO}/METADATA").decode())


def package_files() -> set[str]:
    """What the package folder holds in the repository: tracked files, never a developer's scratch files."""
    listed = subprocess.run(["git", "ls-files", "-z", PACKAGE], cwd=REPO, capture_output=True, check=True)
    return {name for name in listed.stdout.decode().split("\0") if name}


def test_build_prints_no_deprecation_warning(build: Build) -> None:
    assert "deprecat" not in build.output.lower(), build.output


def test_twine_check_strict_passes(build: Build) -> None:
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(build.wheel), str(build.sdist)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_holds_the_whole_package_and_nothing_else(build: Build) -> None:
    with zipfile.ZipFile(build.wheel) as whl:
        names = set(whl.namelist())
    in_package = {n for n in names if n.startswith(f"{PACKAGE}/")}
    others = names - in_package - {n for n in names if n.startswith(f"{DIST_INFO}/")}
    assert others == set(), "only the package and its metadata belong in the wheel"
    assert f"{PACKAGE}/py.typed" in in_package
    # Package data (migrations, templates) is easy to lose: every file the package folder tracks ships.
    assert in_package == package_files()
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


def test_sdist_holds_the_package_licence_and_docs_but_no_partial_test_suite(build: Build) -> None:
    with tarfile.open(build.sdist) as sdist:
        names = {m.name.removeprefix(f"{SDIST_ROOT}/") for m in sdist.getmembers() if m.isfile()}
    assert {"LICENSE", "README.md", "pyproject.toml", "docs/conf.py", "docs/changelog.rst"} <= names
    assert package_files() <= names
    assert not {n for n in names if n.startswith("tests/")}
    assert not {n for n in names if n.startswith(("docs/_build/", "docs/api/_generated/"))}


def test_metadata_licence_urls_and_classifiers(build: Build) -> None:
    meta = wheel_metadata(build)
    assert meta["Name"] == "airflow-provider-mensatek"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert "airflow" in meta["Keywords"].split(",")
    classifiers = meta.get_all("Classifier") or []
    assert set(classifiers) <= KNOWN_CLASSIFIERS, "PyPI refuses unknown classifiers"
    # An SPDX licence expression replaces licence classifiers (PyPI refuses both together).
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    # The suite runs on this interpreter, so the classifiers must claim it.
    assert f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}" in classifiers


def test_wheel_registers_the_provider_entry_point(build: Build) -> None:
    with zipfile.ZipFile(build.wheel) as whl:
        entry_points = whl.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "[apache_airflow_provider]" in entry_points
    assert f"provider_info = {PACKAGE}.get_provider_info:get_provider_info" in entry_points
