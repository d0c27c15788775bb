"""A per-user folder under the temp dir (the example DAGs'): created private, refused when another local user
could control it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_mensatek.clients.private_folder import (
    UnsafeFolderError,
    private_folder,
    private_target,
)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask many hosts run with (022): a folder made without care is world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_missing_folder_is_created_private_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    folder = private_folder(tmp_path / "mensatek-examples-ana")
    assert folder.is_dir() and mode(folder) == 0o700 and os.lstat(folder).st_uid == os.getuid()
    assert private_folder(folder) == folder  # an existing private folder of this user is kept


@pytest.mark.parametrize("loose", [0o777, 0o775, 0o755, 0o750, 0o701])
def test_a_folder_open_to_others_is_refused_and_left_alone(tmp_path: Path, loose: int) -> None:
    folder = tmp_path / "mensatek-examples-ana"
    folder.mkdir()
    folder.chmod(loose)
    with pytest.raises(UnsafeFolderError, match=rf"its mode is {loose:04o}.*chmod 700 {folder}"):
        private_folder(folder)
    assert mode(folder) == loose


def test_a_symlink_is_refused_even_to_a_private_folder_of_this_user(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "mensatek-examples-ana").symlink_to(elsewhere)
    with pytest.raises(UnsafeFolderError, match=rf"symbolic link \(to {elsewhere}\)"):
        private_folder(tmp_path / "mensatek-examples-ana")
    (tmp_path / "dangling").symlink_to(tmp_path / "not-yet")  # planted before the folder it points to exists
    with pytest.raises(UnsafeFolderError, match="symbolic link"):
        private_folder(tmp_path / "dangling")
    assert not (tmp_path / "not-yet").exists()


def test_a_file_in_its_place_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mensatek-examples-ana").write_text("")
    with pytest.raises(UnsafeFolderError, match="not a folder"):
        private_folder(tmp_path / "mensatek-examples-ana")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder another user owns needs root")
def test_a_folder_another_user_made_is_refused_even_when_private(tmp_path: Path) -> None:
    folder = tmp_path / "mensatek-examples-ana"
    folder.mkdir(mode=0o700)
    os.chown(folder, 4242, 4242)
    with pytest.raises(UnsafeFolderError, match=rf"belongs to uid 4242, not to this task's user \(uid "
                                                       rf"{os.getuid()}\)"):
        private_folder(folder)


def test_only_targets_in_the_default_folder_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "mensatek-examples-ana"
    folder.mkdir()
    folder.chmod(0o777)
    for target in ((folder / "lake").as_uri(), str(folder / "docs"), f"file://{folder}/x/../lake", folder.as_uri()):
        with pytest.raises(UnsafeFolderError):
            private_target(target, folder)
    for target in ("s3://bucket/lake", (tmp_path / "lake").as_uri(), f"{folder}-other/lake",
                   f"file://{folder}/../lake"):
        assert private_target(target, folder) == target
