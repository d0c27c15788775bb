"""Thread jobs of an event loop: every wait they would make is handed back to the loop, never slept.

A triggerer runs thousands of waits in one event loop and hands the sync
clients' HTTP to a small thread pool. A thread that sleeps (a rate limiter's
wait, a retry's backoff) or blocks on another thread (the first-use gate of a
credential) holds a pool slot that every other wait of the process needs. So
code running inside :meth:`LoopJob.run` does not wait: where it would, it
raises a :class:`LoopWait`, before anything is sent; the loop awaits
:meth:`LoopWait.wait` and runs the job again. What the job had already learnt
before the wait is its caller's to keep (the status waiter records every
answer of an interrupted round).

Outside a loop job (operators, sensors, plain Python) nothing changes: the
caller's own thread waits, as it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

_T = TypeVar("_T")

_CURRENT: ContextVar[LoopJob | None] = ContextVar("mensatek_loop_job", default=None)


class LoopJob:
    """The thread jobs of one waiter in an event loop, and the slots its loop already awaited for them.

    One per waiter (trigger), used by one job at a time: a rate-limit slot the
    loop awaited is granted here, and the next request of the waiter's job
    takes it instead of asking the limiter again.
    """

    def __init__(self) -> None:
        self._granted: list[object] = []

    def run(self, fn: Callable[..., _T], *args: object) -> _T:
        """Call ``fn(*args)`` in this thread as a job of the loop (see the module's docstring)."""
        token = _CURRENT.set(self)
        try:
            return fn(*args)
        finally:
            _CURRENT.reset(token)

    def grant(self, owner: object) -> None:
        """Record a slot of ``owner`` (a rate limiter) that the loop awaited for this waiter."""
        self._granted.append(owner)

    def take(self, owner: object) -> bool:
        """Use a slot of ``owner`` granted earlier; False when there is none."""
        for i, granted in enumerate(self._granted):
            if granted is owner:
                del self._granted[i]
                return True
        return False


def current_job() -> LoopJob | None:
    """The loop job this thread is running, or None in an ordinary thread (which may wait)."""
    return _CURRENT.get()


class LoopWait(Exception):
    """Raised in a loop job instead of waiting; the loop awaits :meth:`wait`, then runs the job again.

    Never a :class:`~airflow_provider_mensatek.clients.errors.MensatekError`:
    nothing went wrong and nothing was sent.
    """

    async def wait(self, job: LoopJob) -> None:
        raise NotImplementedError
