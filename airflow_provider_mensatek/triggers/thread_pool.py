"""The provider's own thread pool for its triggers: bounded, shared, and never asleep.

Triggers reuse the sync vendor clients (one per connection, see
:mod:`.shared_clients`); their HTTP runs here, not in the event loop and not in
the loop's default executor, which the triggerer and every other provider's
triggers share. The pool has ``[mensatek] trigger_threads`` threads
(:data:`DEFAULT_THREADS`), one pool per process for every trigger of this
provider, whatever event loop runs it.

A thread of this pool never sleeps: a job that would wait (a LegallyMail
rate-limit slot, a retry's backoff, another thread's first call with a new
credential) hands the wait back as a
:class:`~airflow_provider_mensatek.clients._http.loop_waits.LoopWait`, which
:func:`run` awaits in the event loop before running the job again. So a
thousand LegallyMail waits queued behind their 10 requests a minute cost no
thread, and a Mensatek check due meanwhile finds a free one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob, LoopWait

_T = TypeVar("_T")

#: Threads of the pool unless ``[mensatek] trigger_threads`` says otherwise. Each holds at most one
#: request in flight and never sleeps, so 16 serve about 80 checks a second against a vendor answering
#: in 200 ms: the busiest minute of 10,000 Mensatek waits on the default policy asks about 35 a second.
DEFAULT_THREADS = 16
MAX_THREADS = 256
CONFIG_SECTION, CONFIG_OPTION = "mensatek", "trigger_threads"
THREAD_NAME_PREFIX = "mensatek-trigger"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def configured_threads() -> int:
    """``[mensatek] trigger_threads``, checked (1 to :data:`MAX_THREADS`)."""
    from airflow.sdk import conf

    value = conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback=str(DEFAULT_THREADS))
    try:
        threads = int(str(value).strip())
    except ValueError:
        threads = 0
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"[{CONFIG_SECTION}] {CONFIG_OPTION} must be a whole number from 1 to {MAX_THREADS}, "
                         f"got {value!r}")
    return threads


def pool() -> ThreadPoolExecutor:
    """The process's pool, created on first use with :func:`configured_threads` threads."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=configured_threads(), thread_name_prefix=THREAD_NAME_PREFIX)
        return _pool


def shutdown_pool() -> None:
    """Stop the pool once its jobs end; the next :func:`pool` reads the setting again (tests)."""
    global _pool
    with _pool_lock:
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=True)


async def run(job: LoopJob, fn: Callable[[], _T]) -> _T:
    """``fn()`` in the pool as a job of ``job``; every wait it hands back is awaited here, then it runs again.

    ``fn`` must be safe to run again after a :class:`LoopWait` (the status waiter is: it keeps the
    answers of an interrupted round and asks only about the rest).
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await loop.run_in_executor(pool(), job.run, fn)
        except LoopWait as pending:
            # Its traceback holds the job's frames, which hold it back: a cycle only a full collection frees.
            pending.__traceback__ = None
            await pending.wait(job)
