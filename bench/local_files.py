"""Time and Python heap peak of reading (or refusing) attachment sources with the 10 MB limit.

    .venv/bin/python bench/local_files.py

Cases: a 10 MB regular file (the largest accepted), a 5 GiB sparse file (refused
from its size, nothing read), the bounded read of that sparse file by itself
(what a file that lies about its size would cost: limit + 1 bytes), /dev/zero
and a FIFO (refused before any read; the FIFO is never waited on). Each case
runs in this process, measured with time.perf_counter and tracemalloc.
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_mensatek.clients._local_files import read_bounded, read_source
from airflow_provider_mensatek.clients.errors import ValidationError

LIMIT = 10 * 1024 * 1024


def measure(label: str, action: Callable[[], Any]) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        outcome = f"read {len(action()[1]):,} bytes"
    except ValidationError as exc:
        outcome = "refused: " + str(exc).split(": ", 2)[-1][:60]
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label:<38} {elapsed * 1000:9.2f} ms  heap peak {peak / 2**20:7.2f} MiB  {outcome}")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-local-files-"))
    try:
        roots = (os.path.realpath(root),)
        (root / "ten.pdf").write_bytes(os.urandom(LIMIT))
        with open(root / "sparse.pdf", "wb") as handle:
            handle.truncate(5 * 1024**3)
        os.mkfifo(root / "pipe.pdf")

        def read(path: str) -> Callable[[], Any]:
            return lambda: read_source(path, allowed_roots=roots, max_bytes=LIMIT, what="attachment")

        def bounded_sparse() -> tuple[str, bytes]:
            fd = os.open(root / "sparse.pdf", os.O_RDONLY)
            try:
                return "sparse.pdf", read_bounded(fd, LIMIT)
            finally:
                os.close(fd)

        measure("10 MiB regular file", read(str(root / "ten.pdf")))
        measure("5 GiB sparse file", read(str(root / "sparse.pdf")))
        measure("5 GiB sparse file, bounded read alone", bounded_sparse)
        measure("/dev/zero", lambda: read_source("/dev/zero", allowed_roots=("/",), max_bytes=LIMIT,
                                                 what="attachment"))
        measure("FIFO in an allowed root", read(str(root / "pipe.pdf")))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
