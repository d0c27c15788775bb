"""A per-user folder under the shared temp dir, refused if another local user could control it.

The example DAGs write by default under ``<tmp>/mensatek-examples-<user>``,
and a DAG copied from them may do the same. The temp dir is shared: any
local user can create that name first, as a folder they own or can write
to, or as a symlink to a folder of their choice, and then read the contracts
and certificates written into it, swap a recipients file or a document
before it is sent, or have the task write elsewhere. So before writing, the
folder is created with mode 0700 if it is missing and, whoever made it,
accepted only as a real folder (not a symlink) owned by the task's user with
no access for group or others, as OpenSSH and the XDG runtime folder demand
of theirs. Nothing is changed on a folder that fails: fixing it
(``chmod 700``, or removing a folder someone else planted) is for a person
to decide.

:func:`private_target` checks only a target inside that folder (the examples'
default): a ``lake`` / ``documents`` run parameter pointing elsewhere
(another local path, ``s3://``) is the DAG author's choice.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit


class UnsafeFolderError(PermissionError):
    """The folder is a symlink, not a folder, someone else's, or open to others."""


def private_folder(folder: Path) -> Path:
    """``folder``, created with mode 0700 if missing; refused unless it is a private folder of this user.

    Its parent (the temp dir) must exist. The check is of the folder itself, not followed through a
    symlink; a folder of this user in a sticky temp dir cannot be replaced by another user afterwards.
    """
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    fix = "remove it, or use another folder (the run parameter naming it), before running the task again"
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFolderError(f"Refusing to write into {folder}: it is a symbolic link (to "
                                       f"{os.readlink(folder)}), which another local user may have planted; {fix}")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFolderError(f"Refusing to write into {folder}: it is not a folder; {fix}")
    if info.st_uid != os.getuid():
        raise UnsafeFolderError(f"Refusing to write into {folder}: it belongs to uid {info.st_uid}, not to "
                                       f"this task's user (uid {os.getuid()}), so another local user made it; {fix}")
    if info.st_mode & 0o077:
        raise UnsafeFolderError(
            f"Refusing to write into {folder}: its mode is {stat.S_IMODE(info.st_mode):04o}, so other local users "
            f"may read or change what the example writes there; make it private (chmod 700 {folder}) or {fix}")
    return folder


def private_target(url: str, folder: Path) -> str:
    """``url`` (an ObjectStoragePath URL or a local path), after :func:`private_folder` on ``folder`` when the
    URL is a local path inside it (an example's default); any other target is returned unchecked."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "file"):
        return url
    local, root = os.path.abspath(unquote(parts.path)), os.path.abspath(folder)
    if os.path.commonpath([local, root]) == root:
        private_folder(folder)
    return url


__all__ = ["UnsafeFolderError", "private_folder", "private_target"]
