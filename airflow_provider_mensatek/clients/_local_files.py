"""Reading the files a send attaches (and a campaign's recipients file): local paths only from allowed roots.

An attachment or document argument is often templated, so its value can come
from ``dag_run.conf`` or an upstream XCom: whoever triggers a run must not be
able to mail ``/proc/self/environ`` (the worker's environment, connection
tokens included), ``/etc/passwd`` or ``~/.ssh`` to the vendor and the
recipients, nor hang the worker on a FIFO or ``/dev/zero``. So:

* a local path is read only when it resolves (symlinks and ``..`` followed)
  inside one of the *allowed roots* the caller named; ``/proc``, ``/sys`` and
  ``/dev`` never, whatever the roots, nor a Kerberos credential cache (see
  :mod:`._credential_caches`: the temp dir, a default root, is where tickets live);
* the file is opened component by component from the root's directory with
  ``O_NOFOLLOW`` (a symlink swapped in after the check fails the open instead of
  being followed) and ``O_NONBLOCK`` (opening a FIFO never waits for a writer),
  then ``fstat`` of the open descriptor must say regular file: the check and the
  read are about the same file;
* at most ``limit + 1`` bytes are ever read, from local files and from object
  storage alike, so a file that grows or lies about its size cannot exhaust memory
  (:func:`open_source` streams a file of any size after the same checks);
* object-storage paths (``ObjectStoragePath``, fsspec/UPath objects) are read
  through their own ``open()``, except ``file://`` ones, which are local files
  and pass the checks above; ``http(s)://`` is refused: a URL from run
  configuration would make the worker fetch any address it can reach.

Plain-Python callers get no local root by default: a client reads a local path
only after being given ``allowed_roots``. Bytes need no root.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_mensatek.clients._credential_caches import (
    CREDENTIAL_CACHE_PREFIX,
    is_credential_cache_file,
    is_credential_cache_name,
)
from airflow_provider_mensatek.clients.errors import ValidationError

#: Kernel and device trees: never a source of an attachment, whatever the roots say.
FORBIDDEN_TREES = ("/proc", "/sys", "/dev")

#: Schemes never fetched: http(s) is any reachable address (SSRF), and the fsspec
#: wrappers below read another file system (often the local one) behind a remote-looking URL.
REFUSED_SCHEMES = frozenset({
    "http", "https", "zip", "tar", "libarchive", "reference", "simplecache", "filecache", "blockcache",
    "cached", "dir", "git",
})
_LOCAL_SCHEMES = ("", "file", "local")
_READ_CHUNK = 1024 * 1024
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def normalise_roots(roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
                    *, vendor: str = "mensatek") -> tuple[str, ...]:
    """The roots as absolute, symlink-free directory paths (order kept, duplicates dropped).

    A relative root is refused rather than resolved against whatever the
    current directory of a worker happens to be.
    """
    if roots is None:
        return ()
    items = [roots] if isinstance(roots, str | os.PathLike) else list(roots)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str | os.PathLike) or not os.fspath(item):
            raise ValidationError(f"allowed_roots must be absolute folder paths, got {item!r}", vendor=vendor)
        text = os.fspath(item)
        if not os.path.isabs(text):
            raise ValidationError(f"allowed_roots must be absolute folder paths, got {text!r}", vendor=vendor)
        real = os.path.realpath(text)
        if _forbidden(real):
            raise ValidationError(f"{real!r} cannot be an allowed root: {', '.join(FORBIDDEN_TREES)} are never "
                                  "read", vendor=vendor)
        if real not in out:
            out.append(real)
    return tuple(out)


def url_scheme(value: str) -> str | None:
    """The scheme of a ``scheme://...`` string (lower case), or None for a plain path."""
    head, sep, _ = value.partition("://")
    if not sep or not head or not (head[0].isalpha() and all(c.isalnum() or c in "+-." for c in head)):
        return None
    return head.lower()


def is_storage_url(value: Any) -> bool:
    """True for a string an Airflow operator should turn into an ``ObjectStoragePath``.

    ``file://`` counts (the resulting local path is checked like any other);
    refused schemes and chained URLs (``zip://a::file:///...``) do not, so the
    loader refuses them with its own message.
    """
    if not isinstance(value, str) or "::" in value:
        return False
    scheme = url_scheme(value)
    return scheme is not None and scheme not in REFUSED_SCHEMES


def read_source(source: Any, *, allowed_roots: tuple[str, ...], max_bytes: int, what: str,
                vendor: str = "mensatek") -> tuple[str, bytes]:
    """``(file name, content)`` of a local path, a ``file://`` URL or an object-storage path.

    ``what`` names the argument in errors ("attachment", "document"). Every
    refusal is a :class:`ValidationError` raised before any request is made.
    """
    local, shown = _local_path_of(source, what, vendor)
    if local is None:
        return str(getattr(source, "name", "") or ""), _read_remote(source, shown, max_bytes, what, vendor)
    fd, info, real = _open_local(local, shown, allowed_roots, what, vendor)
    try:
        if info.st_size > max_bytes:
            raise _refusal(what, shown, vendor, f"it is {info.st_size} bytes; the limit is {max_bytes}")
        content = read_bounded(fd, max_bytes, info.st_size)
    finally:
        os.close(fd)
    if len(content) > max_bytes:
        raise _refusal(what, shown, vendor, f"it holds more than {max_bytes} bytes (the limit)")
    return os.path.basename(real), content


def open_source(source: Any, *, allowed_roots: tuple[str, ...], what: str, vendor: str = "mensatek") -> IO[bytes]:
    """A binary file object for reading ``source`` as a stream (a campaign's recipients file, of any size).

    The same rules as :func:`read_source` but the size limit: a local file is
    opened only after every check passed, and the object returned reads that
    very file; object storage is opened with its own ``open("rb")``.
    """
    local, shown = _local_path_of(source, what, vendor)
    if local is None:
        handle: IO[bytes] = source.open("rb")
        return handle
    fd, _, _ = _open_local(local, shown, allowed_roots, what, vendor)
    return os.fdopen(fd, "rb")


def _local_path_of(source: Any, what: str, vendor: str) -> tuple[str | None, str]:
    """``(local path, shown)`` of a local source, ``(None, shown)`` of an object-storage one; else refused."""
    if isinstance(source, str):
        scheme = url_scheme(source)
        if scheme is None:
            return source, source
        if scheme == "file" and "::" not in source:
            parts = urlsplit(source)
            if parts.netloc not in ("", "localhost"):
                raise _refusal(what, source, vendor, "a file:// URL names no host (file:///absolute/path)")
            return unquote(parts.path), source
        raise _refusal(what, source, vendor, _scheme_refusal(scheme, source))
    if isinstance(source, os.PathLike):
        return os.fspath(source), str(source)
    protocol = getattr(source, "protocol", None)
    if isinstance(protocol, tuple | list):  # fsspec lists every alias of a file system
        protocol = protocol[0] if protocol else ""
    if isinstance(protocol, str) and callable(getattr(source, "open", None)):
        shown = str(source)
        if protocol.lower() in _LOCAL_SCHEMES and "::" not in shown:
            return str(getattr(source, "path", "")), shown
        if protocol.lower() in REFUSED_SCHEMES or "::" in shown:
            raise _refusal(what, shown, vendor, _scheme_refusal(protocol.lower(), shown))
        return None, shown
    raise ValidationError(
        f"Cannot read {what} of type {type(source).__name__}: give a local path or an object-storage path "
        "(ObjectStoragePath)", vendor=vendor)


def _refusal(what: str, shown: str, vendor: str, reason: str) -> ValidationError:
    return ValidationError(f"Cannot read {what} {shown!r}: {reason}", vendor=vendor)


def _scheme_refusal(scheme: str, shown: str) -> str:
    if "::" in shown:
        return "chained URLs are not read (they can reach local files behind a remote-looking name)"
    if scheme in ("http", "https"):
        return ("http(s) URLs are not fetched: a URL from run configuration would make the worker request any "
                "address it can reach; download the file in a task of your own and pass the file")
    if scheme in REFUSED_SCHEMES:
        return f"{scheme}:// wraps another file system and is not read"
    return f"pass object storage ({scheme}://) as an ObjectStoragePath (or any fsspec/UPath object), not a string"


class LocalFileAccess:
    """The local folders a client may read attachments and documents from: none unless it is given some.

    Plain-Python code names its folders (``MensatekClient(..., allowed_roots=["/srv/notices"])``);
    the provider's operators set the roots their DAG author allowed. Bytes and
    object storage need no root.
    """

    vendor: str
    _allowed_roots: tuple[str, ...] = ()

    @property
    def allowed_roots(self) -> tuple[str, ...]:
        return self._allowed_roots

    @allowed_roots.setter
    def allowed_roots(self, roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None) -> None:
        self._allowed_roots = normalise_roots(roots, vendor=self.vendor)


# -- local files ---------------------------------------------------------------


def _forbidden(real: str) -> bool:
    return any(_inside(real, tree) for tree in FORBIDDEN_TREES)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _open_local(path: str, shown: str, roots: tuple[str, ...], what: str,
                vendor: str) -> tuple[int, os.stat_result, str]:
    """``(descriptor, its fstat, resolved path)`` of a local regular file every rule allows; the caller closes it."""
    def refuse(reason: str) -> ValidationError:
        return _refusal(what, shown, vendor, reason)

    if not path:
        raise refuse("the path is empty")
    if "\x00" in path:
        raise refuse("the path holds a NUL character")
    real = os.path.realpath(os.path.abspath(path))
    if _forbidden(real):
        raise refuse(f"it resolves to {real!r}; {', '.join(FORBIDDEN_TREES)} are never read")
    if is_credential_cache_name(path) or is_credential_cache_name(real):
        raise refuse(f"it is a Kerberos credential cache ({CREDENTIAL_CACHE_PREFIX}*), never read")
    root = next((r for r in roots if _inside(real, r)), None)
    if root is None:
        resolved = f" (it resolves to {real!r})" if real != path else ""
        where = f"the allowed roots {list(roots)}" if roots else "any allowed root (allowed_roots is empty)"
        raise refuse(f"it is outside {where}{resolved}. Give the content as bytes, or add its folder to "
                     "allowed_roots where the DAG (or your code) is written, never from run configuration")
    try:
        mode = os.lstat(real).st_mode
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(mode):
        raise refuse(f"it is {_kind(mode)}, not a regular file")
    parts = [p for p in os.path.relpath(real, root).split(os.sep) if p not in ("", ".")]
    try:
        fd = _open_beneath(root, parts)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise refuse("it changed while being opened (a symlink replaced part of the path)") from None
        raise refuse(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"it is {_kind(info.st_mode)}, not a regular file")
        if is_credential_cache_file(real, info):
            raise refuse("it is a known credential cache ([kerberos] ccache or KRB5CCNAME), never read")
    except BaseException:
        os.close(fd)
        raise
    return fd, info, real


def _open_beneath(root: str, parts: list[str]) -> int:
    """Open ``root/parts...`` without following any symlink below ``root``; FIFOs do not block."""
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "it is the allowed root itself")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
    try:
        for part in parts[:-1]:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
        return os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def read_bounded(fd: int, max_bytes: int, expected: int | None = None) -> bytes:
    """Read until end of file, but never more than ``max_bytes + 1`` bytes (enough to tell "too big").

    ``expected`` (the size fstat gave) sizes the first read, so a file that is
    what it says is read in one piece and held once, not once in chunks and
    again joined.
    """
    chunks: list[bytes] = []
    total = 0
    want = _READ_CHUNK if expected is None else min(expected, max_bytes) + 1
    while total <= max_bytes:
        chunk = os.read(fd, min(want, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = _READ_CHUNK
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


# -- object storage --------------------------------------------------------------


def _read_remote(source: Any, shown: str, max_bytes: int, what: str, vendor: str) -> bytes:
    def refuse(reason: str) -> ValidationError:
        return ValidationError(f"Cannot read {what} {shown!r}: {reason}", vendor=vendor)

    try:
        info = source.stat()
        # fsspec answers a dict ("size", "type"); a pathlib-like an os.stat_result.
        size = info.get("size") if isinstance(info, dict) else getattr(info, "st_size", None)
        kind = info.get("type") if isinstance(info, dict) else None
        if kind not in (None, "file"):
            raise refuse(f"it is a {kind}, not a file")
        if isinstance(size, int) and size > max_bytes:
            raise refuse(f"it is {size} bytes; the limit is {max_bytes}")
        with source.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError) as exc:
        # What a retry cannot fix (a missing object, no file system for the scheme); a
        # network error keeps its own type, so Airflow may retry it.
        raise refuse(str(exc) or type(exc).__name__) from None
    if not isinstance(content, bytes):
        raise refuse("its file system did not return bytes")
    if len(content) > max_bytes:
        raise refuse(f"it holds more than {max_bytes} bytes (the limit)")
    return content


__all__ = ["FORBIDDEN_TREES", "REFUSED_SCHEMES", "LocalFileAccess", "is_storage_url", "normalise_roots", "open_source",
           "read_bounded", "read_source", "url_scheme"]
