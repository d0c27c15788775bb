"""Attachments and documents read from local files: only regular files inside the allowed roots, bounded.

Every refusal is checked on all five places the clients read a file to send it
(Mensatek certified email and email attachments, Mensatek library upload,
LegallyMail attachments and signature document), over real HTTP: the sandbox
must have received no request at all.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mensatek.clients import LegallyMailClient, MensatekClient
from airflow_provider_mensatek.clients._local_files import _open_beneath, normalise_roots, read_bounded
from airflow_provider_mensatek.clients.errors import ValidationError
from airflow_provider_mensatek.clients.legallymail.checks import MAX_DOCUMENT_BYTES
from airflow_provider_mensatek.sandbox import Sandbox
from tests.conftest import LEGALLYMAIL_TOKEN, MENSATEK_TOKEN, MENSATEK_USER
from tests.legallymail_support import PDF, FakeTime, make_client

GIB = 1024 ** 3


@pytest.fixture
def root() -> Iterator[Path]:
    """An allowed root with a short path (a Unix socket path must stay under 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="lf-root-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder that is not an allowed root, holding a 'secret' that must never be sent."""
    folder = Path(tempfile.mkdtemp(prefix="lf-out-"))
    (folder / "secret.pdf").write_bytes(b"%PDF-1.4 SECRET-NOT-TO-BE-MAILED")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def clients(sandbox: Sandbox, root: Path) -> Iterator[tuple[MensatekClient, LegallyMailClient]]:
    mensatek = MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url, allowed_roots=[root])
    legallymail = make_client(sandbox, LEGALLYMAIL_TOKEN, FakeTime(), allowed_roots=[root])
    with mensatek, legallymail:
        yield mensatek, legallymail


def _adjuntos(request: Any) -> bytes:
    return base64.b64decode(json.loads(request.params["Adjuntos"])[0]["Contenido"])


#: name -> (send the source through this entry point, the bytes the vendor received).
ENTRY_POINTS: dict[str, tuple[Callable[[MensatekClient, LegallyMailClient, Any], Any], Callable[[Any], bytes]]] = {
    "mensatek_certified_email": (
        lambda m, lm, src: m.send_certified_email("avisos@example.com", "ana@example.com", "s", "m",
                                                  attachments=[src]),
        _adjuntos),
    "mensatek_email": (
        lambda m, lm, src: m.send_email("avisos@example.com", ["ana@example.com"], "s", html="<p>m</p>",
                                        attachments=[src]),
        _adjuntos),
    "mensatek_library_upload": (
        lambda m, lm, src: m.upload_file(src, name="nota.pdf"),
        lambda request: request.params["Fichero"]["content"]),
    "legallymail_attachment": (
        lambda m, lm, src: lm.send_certified_email(["ana@example.com"], "s", "<p>m</p>", attachments=[src]),
        lambda request: base64.b64decode(request.params["attachments"][0]["content"])),
    "legallymail_signature_document": (
        lambda m, lm, src: lm.request_signature(src, [{"name": "Ana", "email": "ana@example.com"}]),
        lambda request: base64.b64decode(request.params["document"])),
}


def _fifo(root: Path, outside: Path) -> str:
    os.mkfifo(root / "pipe.pdf")
    return str(root / "pipe.pdf")


def _socket(root: Path, outside: Path) -> str:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(root / "sock.pdf"))
    server.listen(1)
    _open_sockets.append(server)
    return str(root / "sock.pdf")


_open_sockets: list[socket.socket] = []


def _symlink(target: str) -> Callable[[Path, Path], str]:
    def make(root: Path, outside: Path) -> str:
        (root / "link.pdf").symlink_to(target.format(outside=outside))
        return str(root / "link.pdf")
    return make


def _sparse(root: Path, outside: Path) -> str:
    path = root / "big.pdf"
    with open(path, "wb") as handle:
        handle.truncate(5 * GIB)  # sparse: no disk space, but reading it would take 5 GB of memory
    return str(path)


def _directory(root: Path, outside: Path) -> str:
    (root / "sub.pdf").mkdir()
    return str(root / "sub.pdf")


#: name -> (build the source, a fragment of the refusal).
REFUSED: dict[str, tuple[Callable[[Path, Path], Any], str]] = {
    "proc_self_environ": (lambda root, outside: "/proc/self/environ", "/proc, /sys, /dev are never read"),
    "etc_passwd": (lambda root, outside: "/etc/passwd", "is outside the allowed roots"),
    "dev_zero": (lambda root, outside: "/dev/zero", "/proc, /sys, /dev are never read"),
    "fifo_in_root": (_fifo, "is a FIFO (named pipe), not a regular file"),
    "socket_in_root": (_socket, "is a socket, not a regular file"),
    "directory_in_root": (_directory, "is a directory, not a regular file"),
    "symlink_in_root_to_outside": (_symlink("{outside}/secret.pdf"), "is outside the allowed roots"),
    "symlink_in_root_to_proc": (_symlink("/proc/self/environ"), "are never read"),
    "symlink_in_root_to_dev_zero": (_symlink("/dev/zero"), "are never read"),
    "dotdot_escape": (lambda root, outside: f"{root}/../{outside.name}/secret.pdf", "is outside the allowed roots"),
    "file_url_outside": (lambda root, outside: f"file://{outside}/secret.pdf", "is outside the allowed roots"),
    "file_url_proc": (lambda root, outside: "file:///proc/self/environ", "are never read"),
    "sparse_5_gib_file": (_sparse, f"is {5 * GIB} bytes; the limit is"),
    "https_url": (lambda root, outside: "https://169.254.169.254/latest/meta-data/x.pdf", "are not fetched"),
    "chained_url": (lambda root, outside: f"zip://a.pdf::file://{outside}/secret.zip", "chained URLs"),
}


def run_guarded(call: Callable[[], Any], fifo: Path | None = None) -> BaseException | None:
    """Run ``call`` in a thread; if it is still blocked after a generous guard, unblock it and fail.

    Not a speed check: the guard only keeps a hang from stalling the suite.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=60)
    if thread.is_alive():
        if fifo is not None:  # release a reader blocked on the FIFO, so the thread can end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading the source blocked (a FIFO must never be waited on)")
    return outcome[0]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_before_any_request(sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient],
                                    root: Path, outside: Path, entry: str, case: str) -> None:
    build, fragment = REFUSED[case]
    source = build(root, outside)
    send, _ = ENTRY_POINTS[entry]
    try:
        error = run_guarded(lambda: send(*clients, source), fifo=root / "pipe.pdf" if case == "fifo_in_root" else None)
    finally:
        while _open_sockets:
            _open_sockets.pop().close()
    assert isinstance(error, ValidationError), error
    assert fragment in str(error)
    assert repr(str(source)) in str(error) or str(source) in str(error)  # the error names the path
    if "outside the allowed roots" in fragment:
        assert str(root) in str(error)  # ... and the roots
    assert "SECRET" not in str(error)
    assert sandbox.requests == []


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("path", ["/proc/self/environ", "/dev/zero", "/sys/kernel/notes"])
def test_proc_sys_and_dev_are_refused_even_under_an_allowed_root_of_slash(
        sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient], entry: str, path: str) -> None:
    for client in clients:
        client.allowed_roots = ["/"]
    error = run_guarded(lambda: ENTRY_POINTS[entry][0](*clients, path))
    assert isinstance(error, ValidationError) and "are never read" in str(error)
    assert sandbox.requests == []


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("how", ["path", "pathlib", "file_url", "dict_path", "symlink_inside_root", "relative"])
def test_a_regular_file_in_an_allowed_root_is_sent(
        sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient], root: Path,
        monkeypatch: pytest.MonkeyPatch, entry: str, how: str) -> None:
    (root / "docs").mkdir()
    target = root / "docs" / "nota.pdf"
    target.write_bytes(PDF)
    (root / "alias.pdf").symlink_to(target)  # a symlink that stays inside the root is fine
    monkeypatch.chdir(root)
    source: Any = {"path": str(target), "dict_path": {"name": "nota.pdf", "path": str(target)},
                   "pathlib": target, "file_url": f"file://{target}", "symlink_inside_root": str(root / "alias.pdf"),
                   "relative": "docs/nota.pdf"}.get(how, str(target))
    if how == "dict_path" and entry == "legallymail_signature_document":
        source = str(target)  # a document is bytes or a path, not an attachment dict
    send, received = ENTRY_POINTS[entry]
    send(*clients, source)
    (request,) = sandbox.requests
    assert received(request) == PDF


def test_a_client_reads_no_local_file_until_it_is_given_roots(sandbox: Sandbox, root: Path) -> None:
    (root / "nota.pdf").write_bytes(PDF)
    with MensatekClient(MENSATEK_USER, MENSATEK_TOKEN, base_url=sandbox.mensatek_url) as client:
        assert client.allowed_roots == ()
        with pytest.raises(ValidationError, match=r"outside any allowed root \(allowed_roots is empty\)"):
            client.send_certified_email("avisos@example.com", "ana@example.com", "s", "m",
                                        attachments=[str(root / "nota.pdf")])
        # bytes need no root
        client.send_certified_email("avisos@example.com", "ana@example.com", "s", "m",
                                    attachments=[{"name": "nota.pdf", "content": PDF}])
    assert len(sandbox.requests) == 1


class FakeObjectStoragePath:
    """Stands in for an s3:// ObjectStoragePath (no S3 here): ``protocol``, ``name``, ``stat()``, ``open()``.

    Its content is endless zeros after a PDF header unless ``content`` is given,
    and it records how many bytes each ``read`` asked for.
    """

    protocol = "s3"

    def __init__(self, name: str, content: bytes | None = None, size: int | None = None) -> None:
        self.name, self.content, self.size = name, content, size
        self.reads: list[int] = []

    def __str__(self) -> str:
        return f"s3://bucket/{self.name}"

    def stat(self) -> dict[str, Any]:
        return {"type": "file", **({"size": self.size} if self.size is not None else {})}

    def open(self, mode: str = "r") -> Any:
        assert mode == "rb"
        owner = self

        class Handle:
            def __enter__(self) -> Handle:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def read(self, size: int = -1) -> bytes:
                owner.reads.append(size)
                assert size >= 0, "an object must never be read without a bound"
                if owner.content is not None:
                    return owner.content[:size]
                return (b"%PDF-" + b"\0" * size)[:size]

        return Handle()


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_object_storage_is_read_and_sent(sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient],
                                         entry: str) -> None:
    for client in clients:
        client.allowed_roots = []  # object storage needs no local root
    source = FakeObjectStoragePath("nota.pdf", PDF, size=len(PDF))
    send, received = ENTRY_POINTS[entry]
    send(*clients, source)
    (request,) = sandbox.requests
    assert received(request) == PDF


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("size_known", [True, False])
def test_object_storage_reads_at_most_the_limit_plus_one_byte(
        sandbox: Sandbox, clients: tuple[MensatekClient, LegallyMailClient], entry: str, size_known: bool) -> None:
    source = FakeObjectStoragePath("big.pdf", size=5 * GIB if size_known else None)
    error = run_guarded(lambda: ENTRY_POINTS[entry][0](*clients, source))
    assert isinstance(error, ValidationError)
    if size_known:  # refused from its size, not one byte read
        assert source.reads == [] and f"is {5 * GIB} bytes" in str(error)
    else:  # a size the store does not tell: one bounded read, then refused
        assert source.reads == [10 * 1024 * 1024 + 1] and "more than 10485760 bytes" in str(error)
    assert sandbox.requests == []


def test_the_read_stops_at_the_limit_plus_one_byte(root: Path) -> None:
    path = Path(_sparse(root, root))
    for expected in (None, 100, 5 * GIB):  # fstat's size unknown, smaller (the file grew), or larger
        fd = os.open(path, os.O_RDONLY)
        try:
            content = read_bounded(fd, MAX_DOCUMENT_BYTES, expected)
            assert len(content) == MAX_DOCUMENT_BYTES + 1
            assert os.lseek(fd, 0, os.SEEK_CUR) == MAX_DOCUMENT_BYTES + 1  # nothing read beyond the bound
        finally:
            os.close(fd)
    small = root / "small.pdf"
    small.write_bytes(PDF)
    fd = os.open(small, os.O_RDONLY)
    try:
        assert read_bounded(fd, MAX_DOCUMENT_BYTES) == PDF
    finally:
        os.close(fd)


def test_a_symlink_swapped_in_after_the_check_is_not_followed(root: Path, outside: Path) -> None:
    """The open walks from the root with O_NOFOLLOW: a folder replaced by a symlink fails the open."""
    (root / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OSError):
        _open_beneath(str(root), ["sub", "secret.pdf"])
    (root / "last.pdf").symlink_to(outside / "secret.pdf")
    with pytest.raises(OSError):
        _open_beneath(str(root), ["last.pdf"])


def test_a_fifo_swapped_in_after_the_check_opens_without_waiting_and_is_refused(sandbox: Sandbox, root: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                                 clients: tuple[Any, Any]) -> None:
    """The type check before the open can be raced; the open itself must not wait and fstat decides."""
    import airflow_provider_mensatek.clients._local_files as local_files

    (root / "pipe.pdf").write_bytes(PDF)
    real_lstat = os.lstat

    def swap_after_lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        result = real_lstat(path, *args, **kwargs)
        if str(path).endswith("pipe.pdf") and not (root / "swapped").exists():
            (root / "pipe.pdf").unlink()
            os.mkfifo(root / "pipe.pdf")  # a FIFO in place of the regular file that was checked
            (root / "swapped").touch()
        return result

    monkeypatch.setattr(local_files.os, "lstat", swap_after_lstat)
    error = run_guarded(lambda: ENTRY_POINTS["mensatek_certified_email"][0](*clients, str(root / "pipe.pdf")),
                        fifo=root / "pipe.pdf")
    assert (root / "swapped").exists()
    assert isinstance(error, ValidationError) and "is a FIFO (named pipe), not a regular file" in str(error)
    assert sandbox.requests == []


@pytest.mark.parametrize(("roots", "fragment"), [
    (["relative/folder"], "must be absolute"),
    ([""], "must be absolute"),
    ([42], "must be absolute"),
    (["/proc"], "cannot be an allowed root"),
    (["/dev/shm"], "cannot be an allowed root"),
])
def test_roots_must_be_absolute_and_not_kernel_trees(roots: list[Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        normalise_roots(roots)


def test_roots_are_resolved_once(root: Path) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert normalise_roots([root / "alias", str(root / "real"), str(root / "real") + "/"]) == (
        os.path.realpath(root / "real"),)
    assert normalise_roots(str(root)) == (os.path.realpath(root),)
