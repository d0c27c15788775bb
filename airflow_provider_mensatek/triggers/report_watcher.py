"""One journal watcher per event loop: reads each channel's report journal, wakes only the triggers it names.

A thousand deferred waits on reports must not read a thousand state-store keys
every few seconds. The watcher reads one key per channel (``_journal``), every
``[mensatek] report_watch_interval`` seconds (:data:`DEFAULT_INTERVAL`), and
wakes the triggers whose message ids it lists; each reads only its own changed
``m:<id>`` keys. A journal that cannot say what changed since the last read (it
restarted, or more than its 512 entries went by) wakes every trigger of the
channel, which then read all their keys. The reads go through the provider's
thread pool, as every blocking call of its triggers does.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from functools import partial

from airflow_provider_mensatek.clients._http.loop_waits import LoopJob
from airflow_provider_mensatek.delivery.inbox import Journal
from airflow_provider_mensatek.triggers import thread_pool
from airflow_provider_mensatek.triggers.report_store import read_journal

log = logging.getLogger("airflow_provider_mensatek.triggers.report_watcher")

#: Seconds between two reads of a channel's journal, unless ``[mensatek] report_watch_interval`` says otherwise.
#: A report wakes its wait within this time (plus one state read); each read is one database query in the
#: triggerer's supervisor, whatever the number of waits.
DEFAULT_INTERVAL = 5.0
CONFIG_OPTION = "report_watch_interval"


def configured_interval() -> float:
    from airflow.sdk import conf

    value = conf.get(thread_pool.CONFIG_SECTION, CONFIG_OPTION, fallback=str(DEFAULT_INTERVAL))
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = 0.0
    if not 0.05 <= seconds <= 3600:
        raise ValueError(f"[{thread_pool.CONFIG_SECTION}] {CONFIG_OPTION} must be a number of seconds from 0.05 to "
                         f"3600, got {value!r}")
    return seconds


class Subscription:
    """One trigger's interest in some messages of a channel; :attr:`woken` is set when any may have changed."""

    def __init__(self, channel: str, keys: Iterable[str], since: int) -> None:
        self.channel = channel
        self.keys = set(keys)
        #: The journal seq the trigger's own read was based on.
        self.since = since
        self.woken = asyncio.Event()
        self.changed: set[str] = set()
        self.everything = False

    def take(self) -> list[str] | None:
        """The ids to re-read (None: all of them), and back to sleep."""
        changed, everything = sorted(self.changed), self.everything
        self.changed, self.everything = set(), False
        self.woken.clear()
        return None if everything else changed


class ReportWatcher:
    """The watcher of one event loop (:func:`watcher`)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._by_key: dict[str, dict[str, set[Subscription]]] = {}
        self._journals: dict[str, Journal] = {}
        self._task: asyncio.Task[None] | None = None
        self._job = LoopJob()
        #: Journal reads made (observability and tests).
        self.reads = 0

    def subscribe(self, channel: str, keys: Iterable[str], since: int) -> Subscription:
        """Watch ``keys`` of ``channel`` for a trigger that read them after journal ``since``."""
        subscription = Subscription(channel, keys, since)
        self._subscriptions.setdefault(channel, set()).add(subscription)
        for key in subscription.keys:
            self._by_key.setdefault(channel, {}).setdefault(key, set()).add(subscription)
        known = self._journals.get(channel)
        if known is not None and known.seq != since:
            # The trigger read an older (or newer) journal than the watcher last did: what it may have missed.
            self._wake(subscription, known.changed_since(since))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="mensatek-report-watcher")
        return subscription

    def forget(self, subscription: Subscription, keys: Iterable[str] | None = None) -> None:
        """Stop watching ``keys`` of the subscription (default: all, and the subscription itself)."""
        gone = set(subscription.keys if keys is None else keys) & subscription.keys
        by_key = self._by_key.get(subscription.channel, {})
        for key in gone:
            watchers = by_key.get(key)
            if watchers is not None:
                watchers.discard(subscription)
                if not watchers:
                    del by_key[key]
        subscription.keys -= gone
        if keys is None or not subscription.keys:
            self._subscriptions.get(subscription.channel, set()).discard(subscription)

    def _wake(self, subscription: Subscription, changed: set[str] | None) -> None:
        if changed is None:
            subscription.everything = True
        else:
            mine = changed & subscription.keys
            if not mine:
                return
            subscription.changed |= mine
        subscription.woken.set()

    async def _watch(self) -> None:
        while any(self._subscriptions.values()):
            await asyncio.sleep(self.interval)
            for channel in [c for c, subs in self._subscriptions.items() if subs]:
                try:
                    journal = await thread_pool.run(self._job, partial(read_journal, channel))
                except Exception as exc:  # a failed read is retried at the next tick; the waits stay asleep
                    log.warning("Reading the %s report journal failed (%s: %s); retrying in %g s", channel,
                                type(exc).__name__, exc, self.interval)
                    continue
                self.reads += 1
                previous = self._journals.get(channel)
                self._journals[channel] = journal
                if previous is None:
                    # The first read of this channel: each trigger missed what came after its own read.
                    for subscription in list(self._subscriptions.get(channel, ())):
                        if journal.seq != subscription.since:
                            self._wake(subscription, journal.changed_since(subscription.since))
                    continue
                if journal.seq == previous.seq:
                    continue
                changed = journal.changed_since(previous.seq)
                if changed is None:
                    for subscription in list(self._subscriptions.get(channel, ())):
                        self._wake(subscription, None)
                    continue
                by_key = self._by_key.get(channel, {})
                for key in changed:
                    for subscription in list(by_key.get(key, ())):
                        self._wake(subscription, {key})


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReportWatcher] = weakref.WeakKeyDictionary()


def watcher() -> ReportWatcher:
    """The watcher of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        found = _watchers[loop] = ReportWatcher(configured_interval())
    return found
